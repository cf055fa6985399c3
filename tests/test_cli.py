"""The eventkit command as an organiser uses it: clear errors, exit codes, nothing half-stored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from eventkit.cli import COMMANDS, main
from eventkit.cli.lazy import LazyGroup, load
from eventkit.cli.messages import user_errors
from eventkit.core.render import Renderer
from eventkit.db.store import Event, Invitation, Person, Store
from eventkit.devtools.mailsink import AiosmtpdMissing
from eventkit.events.events import EventCancelled, EventNotFound
from eventkit.model.formats import discover
from tests.conftest import EXAMPLES, TEMPLATES
from tests.test_spec import GOOD


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {
        "EVENTKIT_DATABASE_URL": database_url,
        "EVENTKIT_VAR_DIR": str(tmp_path / "var"),
        "EVENTKIT_MAIL_DIR": str(tmp_path / "mail"),
        "EVENTKIT_SECRET_KEY": "cli-test",
        "EVENTKIT_SMTP_URL": "",
        "EVENTKIT_LANGUAGE": "",
    }


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def count(url: str, model: type) -> int:
    store = Store(url)
    try:
        with store.session() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0
    finally:
        store.dispose()


def test_event_create_prints_the_slug_and_updates_on_rerun(env: dict[str, str], tmp_path: Path) -> None:
    spec = tmp_path / "event.yaml"
    spec.write_text(GOOD, encoding="utf-8")
    code, out, _ = run(env, "event", "create", str(spec))
    assert code == 0 and out.strip() == "fachvernetzung-2027-gifhorn"
    spec.write_text(GOOD.replace("end: 2027-11-20T17:00", "end: 2027-11-20T18:00"), encoding="utf-8")
    code, out, err = run(env, "--lang", "en", "event", "create", str(spec))
    assert code == 0 and "changed: end" in err and "sequence 1" in err
    assert count(env["EVENTKIT_DATABASE_URL"], Event) == 1


def test_bad_spec_exits_non_zero_with_the_place_and_stores_nothing(env: dict[str, str], tmp_path: Path) -> None:
    spec = tmp_path / "event.yaml"
    spec.write_text(GOOD.replace("end: 2027-11-20T17:00", "end: 2027-11-19T17:00"), encoding="utf-8")
    code, out, err = run(env, "event", "create", str(spec))
    assert code == 2 and out == ""
    assert f"{spec}:4: end:" in err
    assert "Traceback" not in err
    assert count(env["EVENTKIT_DATABASE_URL"], Event) == 0


def test_missing_spec_file(env: dict[str, str], tmp_path: Path) -> None:
    code, _, err = run(env, "--lang", "en", "event", "create", str(tmp_path / "nope.yaml"))
    assert code == 2 and "nope.yaml" in err and "Traceback" not in err


def test_invite_unknown_event(env: dict[str, str], tmp_path: Path) -> None:
    code, _, err = run(env, "--lang", "en", "invite", "no-such-event", "--invitees", str(tmp_path / "x.csv"))
    assert code == 2 and "no-such-event" in err and "eventkit event create" in err


def test_bad_invitee_list_stores_nothing(env: dict[str, str], tmp_path: Path) -> None:
    spec = tmp_path / "event.yaml"
    spec.write_text(GOOD, encoding="utf-8")
    assert run(env, "event", "create", str(spec))[0] == 0
    csv = tmp_path / "gaeste.csv"
    csv.write_text("email,name\nok@example.org,Ok\nkaputt,Kaputt\nok@example.org,Doppelt\n", encoding="utf-8")
    code, _, err = run(env, "--lang", "en", "invite", "fachvernetzung-2027-gifhorn", "--invitees", str(csv))
    assert code == 2
    assert f"{csv}:3: email:" in err and f"{csv}:4: email:" in err
    assert count(env["EVENTKIT_DATABASE_URL"], Person) == 0
    assert count(env["EVENTKIT_DATABASE_URL"], Invitation) == 0


@pytest.mark.parametrize("language", ["de", "en"])
@pytest.mark.parametrize("format_name", sorted(discover(TEMPLATES)))
def test_preview_every_email_of_every_format(env: dict[str, str], format_name: str, language: str) -> None:
    for email_name in Renderer(TEMPLATES).email_names(format_name):
        code, out, _ = run(env, "preview", format_name, email_name, "--lang", language)
        assert code == 0
        assert out.startswith("Subject: ")
        assert "<html" in out and "Yasemin Şahin-Müller" in out


def test_preview_unknown_format(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["--lang", "en", "preview", "konferenz", "invitation"], env=env)
    assert result.exit_code == 2 and "konferenz" in result.stderr


def test_examples_have_invitee_lists() -> None:
    for spec in EXAMPLES.glob("*.yaml"):
        assert spec.with_name(f"{spec.stem}-invitees.csv").is_file()


def test_help_lists_every_command_by_the_summary_its_own_help_gives() -> None:
    lazy = LazyGroup("eventkit", lazy=COMMANDS, help=main.help)
    loaded = {name: load(where) for name, (where, _summary) in COMMANDS.items()}
    eager = click.Group("eventkit", commands=loaded, help=main.help)
    listed = CliRunner().invoke(lazy, ["--help"], terminal_width=80).output
    assert "Commands:" in listed and listed == CliRunner().invoke(eager, ["--help"], terminal_width=80).output
    for name, (_where, summary) in COMMANDS.items():
        assert " ".join((loaded[name].help or "").split("\n\n")[0].split()) == summary, name
    assert sorted(main.list_commands(click.Context(main))) == sorted(COMMANDS)


def imported_by(code: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules a fresh interpreter has imported after running `code`."""
    script = f"import sys\n{code}\nprint('\\n'.join(sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ, **(env or {})}, check=True
    )
    return set(done.stdout.split())


def test_help_imports_no_command_module_and_no_prefect() -> None:
    modules = imported_by(
        "from click.testing import CliRunner\nfrom eventkit.cli import main\n"
        "assert CliRunner().invoke(main, ['--help']).exit_code == 0"
    )
    assert not {m for m in modules if m.startswith(("prefect", "flows", "weasyprint", "uvicorn"))}
    assert {m for m in modules if m.startswith("eventkit.cli.")} == {"eventkit.cli.lazy"}


def test_creating_an_event_nobody_knows_yet_does_not_load_prefect(env: dict[str, str], tmp_path: Path) -> None:
    spec = tmp_path / "event.yaml"
    spec.write_text(GOOD, encoding="utf-8")
    modules = imported_by(
        f"from eventkit.cli import main\nmain(['event', 'create', {str(spec)!r}], standalone_mode=False)", env
    )
    assert "eventkit.cli.events" in modules
    assert not {m for m in modules if m.startswith(("prefect", "flows"))}


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (EventCancelled("gera-2027"), ["The event gera-2027 is cancelled, so its time", "Nothing was stored."]),
        (EventNotFound("gera-2027"), ["No event with the slug gera-2027. Create it first with: eventkit event create"]),
        (AiosmtpdMissing(), ["The mail sink needs aiosmtpd"]),
    ],
)
def test_a_user_error_is_a_message_and_exit_code_2(error: Exception, says: list[str]) -> None:
    @click.command()
    @user_errors
    def failing() -> None:
        raise error

    result = CliRunner().invoke(failing, [], env={"EVENTKIT_LANGUAGE": "en"})
    assert result.exit_code == 2 and result.stdout == "" and result.exception is not None
    assert all(text in result.stderr for text in says) and "Traceback" not in result.stderr
    german = CliRunner().invoke(failing, [], env={"EVENTKIT_LANGUAGE": "de"})
    assert german.exit_code == 2 and german.stderr != result.stderr
    assert ("Nothing was stored." in result.stderr) == ("Es wurde nichts gespeichert." in german.stderr)
