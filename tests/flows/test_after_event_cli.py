"""After the event from the command line: attendance list, recap, survey and evaluation, as an organiser runs them."""

from __future__ import annotations

import csv
import subprocess
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from random import Random

import pytest
from click.testing import CliRunner

from eventkit import runtime
from eventkit.cli import main
from eventkit.devtools import survey_answers
from eventkit.door import checkins
from eventkit.events.events import save_event
from eventkit.model.spec import parse_spec
from eventkit.registration import queries
from tests.conftest import EXAMPLES, TEMPLATES, make_settings
from tests.test_reminders import invited
from tests.test_spec import GOOD

pytestmark = pytest.mark.prefect

# the same event, held three days ago (its survey is open for two weeks after it)
HELD = (datetime.now(UTC) - timedelta(days=3)).date()
PAST = GOOD.replace("2027-11-20", HELD.isoformat()).replace("2027-11-16", (HELD - timedelta(days=4)).isoformat())
BEFORE = datetime.combine(HELD - timedelta(days=30), time(12), tzinfo=UTC)
SLUG = f"fachvernetzung-{HELD.year}-gifhorn"
PEOPLE = [
    ("ayse@example.org", "Ayşe Yılmaz"),
    ("dmitri@example.org", "Дмитрий Иванов"),
    ("mohammed@example.org", "محمد الأحمد"),
    ("juergen@example.org", "Jürgen Müller"),
    ("huong@example.org", "Nguyễn Thị Hương"),
]


@pytest.fixture
def env(prefect_harness: None, tmp_path: Path) -> dict[str, str]:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'eventkit.sqlite3'}")
    rt = runtime.configure(settings)
    slug = save_event(rt.store, settings, parse_spec(PAST, TEMPLATES)).slug
    for address, name in PEOPLE:
        invited(rt, slug, address, name, now=BEFORE)
    for row in queries.listing(rt, slug)[1][:4]:  # four of five came
        checkins.check_in(rt, slug, row.id, True, now=datetime.combine(HELD, time(11, 30), tzinfo=UTC))
    return {
        "EVENTKIT_DATABASE_URL": settings.database_url,
        "EVENTKIT_SECRET_KEY": settings.secret_key,
        "EVENTKIT_VAR_DIR": str(tmp_path / "var"),
        "EVENTKIT_MAIL_DIR": str(tmp_path / "mail"),
        "EVENTKIT_TEMPLATE_DIR": str(TEMPLATES),
        "EVENTKIT_BASE_URL": settings.base_url,
        "EVENTKIT_MAIL_FROM": settings.mail_from,
    }


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--lang", "en", *args], env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout  # noqa: S603, S607


def test_attendance_recap_survey_and_evaluation(env: dict[str, str], tmp_path: Path) -> None:
    slug = SLUG
    code, out, err = run(env, "attendance", slug, "--blank")
    assert code == 0, err
    blank = Path(out.strip())
    text = pdf_text(blank)
    for _, name in PEOPLE:
        if name != "محمد الأحمد":  # pdftotext reorders Arabic ligatures; the glyphs are checked in test_attendance
            assert name in text
    assert "5 names on" in err

    code, out, err = run(env, "recap", slug)
    assert code == 2 and f"There is no recap input for {slug} yet" in err
    recap_file = tmp_path / "recap.yaml"
    recap_file.write_text(
        (EXAMPLES / "recaps" / "fachvernetzung-gifhorn.yaml")
        .read_text(encoding="utf-8")
        .replace("fachvernetzung-2027-gifhorn", slug),
        encoding="utf-8",
    )
    code, out, err = run(env, "recap", slug, "--input", str(recap_file))
    assert code == 0, err
    recap_pdf, attendance_pdf = (Path(line) for line in out.split())
    assert recap_pdf.name == f"recap-{slug}.pdf" and attendance_pdf.name == f"attendance-{slug}.pdf"
    assert "Fachvernetzung" in pdf_text(recap_pdf)
    thanks = list((tmp_path / "mail").glob(f"{slug}-recap-thanks-*.eml"))
    assert len(thanks) == 4  # those who came

    broken = tmp_path / "broken.yaml"
    broken.write_text("summray: Hallo\n", encoding="utf-8")
    code, out, err = run(env, "recap", slug, "--input", str(broken))
    assert code == 2 and "summray: unknown key" in err and "Nothing was stored." in err

    code, out, err = run(env, "survey", "send", slug)
    assert code == 0, err
    assert "Survey links: 4 sent, 0 failed." in out
    rt = runtime.get()
    assert survey_answers.simulate_responses(rt, slug, Random(7), share=1.0) == 4
    code, out, err = run(env, "survey", "remind", slug)
    assert code == 0 and "Survey reminders: 0 sent" in out  # everyone answered
    code, out, err = run(env, "survey", "evaluate", slug)
    assert code == 0, err
    assert "4 responses of 4 invited." in err
    csv_path, pdf_path = (Path(line) for line in out.split())
    rows = list(csv.reader(csv_path.read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    assert len(rows) == 5
    assert "4" in pdf_text(pdf_path)
    code, out, err = run(env, "survey", "close", slug)
    assert code == 0 and "was not open" in out  # the evaluation closed it


def test_the_survey_waits_for_the_end_of_the_event(prefect_harness: None, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'eventkit.sqlite3'}")
    rt = runtime.configure(settings)
    slug = save_event(rt.store, settings, parse_spec(GOOD, TEMPLATES)).slug
    env = {
        "EVENTKIT_DATABASE_URL": settings.database_url,
        "EVENTKIT_SECRET_KEY": settings.secret_key,
        "EVENTKIT_VAR_DIR": str(tmp_path / "var"),
        "EVENTKIT_TEMPLATE_DIR": str(TEMPLATES),
    }
    code, out, err = run(env, "survey", "send", slug)
    assert code == 2 and "has not ended yet" in err
    code, out, err = run(env, "survey", "evaluate", "no-such-event")
    assert code == 2 and "No event with the slug no-such-event" in err
