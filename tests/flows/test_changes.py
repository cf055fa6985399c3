"""event-changed under Prefect: the update or the cancellation reaches a real SMTP server; waiting phase runs move."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import icalendar
import pytest
from click.testing import CliRunner
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Scheduled

from eventkit import runtime
from eventkit.cli import main
from eventkit.devtools.mailsink import MailSink
from eventkit.events.events import save_event
from eventkit.model.spec import parse_spec
from flows.changes import event_changed
from tests.conftest import TEMPLATES, make_settings
from tests.flows.test_delivery import flow_run_name, invite, parsed, register
from tests.test_changes import MOVED
from tests.test_spec import GOOD

pytestmark = pytest.mark.prefect


@flow(name="stand-in-phase")
def stand_in_phase(slug: str) -> None:
    """A flow for phase runs made by hand here (the embedded server has no deployments); never run."""


@pytest.fixture
def rt(prefect_harness: None, tmp_path: Path, database_url: str, sink: MailSink) -> Iterator[runtime.Runtime]:
    configured = runtime.configure(make_settings(tmp_path, database_url, sink.url))
    yield configured
    configured.store.dispose()


def unique(spec: str, tag: str) -> str:
    """The embedded Prefect server lives for the whole session: each test's event gets its own slug (and tag)."""
    return spec.replace("title: Fachvernetzung 2027", f"title: Fachvernetzung 2027 {tag}\nslug: change-{tag}")


def phase_run(slug: str, phase: str, at: datetime) -> str:
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(
            stand_in_phase,
            parameters={"slug": slug},
            tags=[f"event:{slug}", "format:fachvernetzung", f"phase:{phase}"],
            state=Scheduled(scheduled_time=at),
        )
    return str(run.id)


def run_state(run_id: str) -> tuple[str, datetime | None]:
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)  # type: ignore[arg-type]
    assert run.state is not None
    return run.state.type.value, run.next_scheduled_start_time


def sequence_of(message: object) -> tuple[str, int]:
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")  # type: ignore[attr-defined]
    cal = icalendar.Calendar.from_ical(part.get_payload(decode=True))
    return str(cal["METHOD"]), int(cal.walk("VEVENT")[0]["SEQUENCE"])


def test_a_new_time_moves_the_phase_runs_and_updates_every_calendar(rt: runtime.Runtime, sink: MailSink) -> None:
    tag = secrets.token_hex(3)
    slug = save_event(rt.store, rt.settings, parse_spec(unique(GOOD, tag), TEMPLATES)).slug
    invite(rt, slug, "ayse@example.org", "Ayşe Yılmaz", "token-ayse")
    assert register(rt, slug, "ayse@example.org", "Ayşe Yılmaz", token="token-ayse") == "registered"
    reminder = phase_run(slug, "reminder-1d", datetime(2027, 11, 19, 11, 0, tzinfo=UTC))
    closing = phase_run(slug, "registration-close", datetime(2027, 11, 16, 22, 59, tzinfo=UTC))
    before = len(sink.received)

    saved = save_event(rt.store, rt.settings, parse_spec(unique(MOVED, tag), TEMPLATES))
    assert saved.previous is not None
    state = event_changed(slug, {"start": saved.previous["start"], "end": saved.previous["end"]}, return_state=True)
    result = state.result()
    assert flow_run_name(state) == f"change · {slug}"
    # 27 November 10:00 Berlin = 09:00 UTC; the deadline moved to 23 November 23:59 (22:59 UTC)
    assert run_state(reminder) == ("SCHEDULED", datetime(2027, 11, 26, 9, 0, tzinfo=UTC))
    assert run_state(closing) == ("SCHEDULED", datetime(2027, 11, 23, 22, 59, tzinfo=UTC))
    assert {r["phase"] for r in result["runs"]} == {"reminder-1d", "registration-close"}

    (update,) = [parsed(r) for r in sink.received[before:]]
    assert update["Subject"] == f"Geändert: Fachvernetzung 2027 {tag}"
    assert sequence_of(update) == ("REQUEST", 1)
    # a rerun of the same change sends nothing and moves nothing
    again = event_changed(slug, None)
    assert again["written"]["emails"] == 0 and again["runs"] == [] and len(sink.received) == before + 1


def test_cancelling_from_the_command_line_cancels_the_runs_and_sends_cancel(
    rt: runtime.Runtime, sink: MailSink, tmp_path: Path, database_url: str
) -> None:
    tag = secrets.token_hex(3)
    slug = save_event(rt.store, rt.settings, parse_spec(unique(GOOD, tag), TEMPLATES)).slug
    invite(rt, slug, "dmitri@example.org", "Дмитрий Иванов", "token-dmitri")
    assert register(rt, slug, "dmitri@example.org", "Дмитрий Иванов", token="token-dmitri") == "registered"
    reminder = phase_run(slug, "reminder-7d", datetime(2027, 11, 13, 11, 0, tzinfo=UTC))
    before = len(sink.received)

    settings = make_settings(tmp_path, database_url, sink.url)
    env = {
        "EVENTKIT_DATABASE_URL": settings.database_url,
        "EVENTKIT_SMTP_URL": sink.url,
        "EVENTKIT_SECRET_KEY": settings.secret_key,
        "EVENTKIT_VAR_DIR": str(tmp_path / "var"),
        "EVENTKIT_TEMPLATE_DIR": str(TEMPLATES),
        "EVENTKIT_MAIL_FROM": settings.mail_from,
        "EVENTKIT_BASE_URL": settings.base_url,
    }
    result = CliRunner().invoke(
        main, ["--lang", "en", "event", "cancel", slug, "--reason", "Die Referentin ist erkrankt."], env=env
    )
    assert result.exit_code == 0, result.output
    assert f"Cancelled event {slug} (calendar sequence 1)." in result.stderr
    assert "1 scheduled runs moved or cancelled" in result.stderr
    assert run_state(reminder)[0] == "CANCELLED"
    (cancel,) = [parsed(r) for r in sink.received[before:]]
    assert cancel["Subject"] == f"Abgesagt: Fachvernetzung 2027 {tag}"
    assert sequence_of(cancel) == ("CANCEL", 1)
    assert "Die Referentin ist erkrankt." in cancel.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]

    twice = CliRunner().invoke(main, ["--lang", "en", "event", "cancel", slug], env=env)
    assert twice.exit_code == 2 and "cancelled already" in twice.stderr
    bad = CliRunner().invoke(main, ["--lang", "en", "event", "cancel", slug, "--reason", "a\x00b"], env=env)
    assert bad.exit_code == 2 and "--reason: must be a single line" in bad.stderr
