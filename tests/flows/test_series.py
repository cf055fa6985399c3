"""plan-series and the series invitation under Prefect: meetings created once, the RRULE calendar delivered."""

from __future__ import annotations

import email
import email.policy
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
from click.testing import CliRunner
from dateutil.rrule import MONTHLY, WE, rrule
from sqlalchemy import func, select

from eventkit import runtime
from eventkit.cli import main
from eventkit.db.store import Event, OutboxMessage, Store
from eventkit.devtools.mailsink import MailSink
from eventkit.model.series_file import load_series, parse_series
from eventkit.series.stored import active_series, load_stored, store_series
from flows.series import plan_all_series, plan_series, send_series_invitation
from tests.conftest import EXAMPLES, TEMPLATES, make_settings
from tests.test_series import Client

pytestmark = pytest.mark.prefect

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def configured(prefect_harness: None, tmp_path: Path, database_url: str, sink: MailSink) -> Iterator[runtime.Runtime]:
    rt = runtime.configure(make_settings(tmp_path, database_url, sink.url))
    store_series(rt.settings, load_series(EXAMPLES / "series" / "plenum-buendnis.yaml", TEMPLATES))
    yield rt
    rt.store.dispose()


def test_plan_series_creates_the_meetings_in_range_once(configured: runtime.Runtime) -> None:
    rt = configured
    first = plan_series("plenum-buendnis-zwickau", horizon_days=200, now=NOW)
    assert first["created"] == ["plenum-buendnis-zwickau-2027-01-13", "plenum-buendnis-zwickau-2027-04-14"]
    assert first["planned"] == first["created"]
    second = plan_series("plenum-buendnis-zwickau", horizon_days=200, now=NOW)
    assert second == {"created": [], "planned": []}
    with rt.store.session() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 2
        # each meeting's lifecycle sent its own invitations to the five members, once
        invitations = session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "invitation")
        )
        assert invitations == 10
    assert load_stored(rt.settings, "plenum-buendnis-zwickau").planned == first["created"]


def test_series_invitation_reaches_the_members_with_the_rrule_calendar(
    configured: runtime.Runtime, sink: MailSink
) -> None:
    result = send_series_invitation("plenum-buendnis-zwickau", now=NOW)
    assert result["written"] == 5 and result["sent"] == 5 and result["failed"] == 0
    messages = [
        email.message_from_bytes(r.data, policy=email.policy.default)  # type: ignore[misc]
        for r in sink.handler.received
    ]
    assert len(messages) == 5
    for message in messages:
        part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
        cal = icalendar.Calendar.from_ical(part.get_content())
        assert part.get_param("method") == str(cal["METHOD"]) == "REQUEST"
        master = next(e for e in cal.walk("VEVENT") if "RECURRENCE-ID" not in e)
        assert master["RRULE"]["FREQ"] == ["MONTHLY"] and master["RRULE"]["BYDAY"] == ["2WE"]
        assert str(master["ATTENDEE"]).removeprefix("mailto:") == message["To"].addresses[0].addr_spec
    again = send_series_invitation("plenum-buendnis-zwickau", now=NOW)
    assert again["written"] == 0 and again["sent"] == 0


# --- the organiser's commands, end to end --------------------------------------------------------------


def _series_file(folder: Path, first: date, moved: date | None = None) -> Path:
    """A quarterly plenum whose first meeting is `first` (a second Wednesday); `moved` goes a week later."""
    shutil.copy(EXAMPLES / "series" / "plenum-buendnis-members.csv", folder / "members.csv")
    exceptions = ""
    if moved is not None:
        exceptions = f"exceptions:\n  moved:\n    - {{date: {moved}, start: {moved + timedelta(days=7)}T18:00}}\n"
    text = f"""slug: plenum-cli
title: Plenum des Bündnisses
format: netzwerktreffen
start: {first}T18:00
end: {first}T20:30
timezone: Europe/Berlin
language: de
rrule: FREQ=MONTHLY;INTERVAL=3;BYDAY=2WE
until: {first + timedelta(days=730)}
{exceptions}venue:
  name: Rathaus, Ratssaal
  address: Hauptmarkt 1, 08056 Zwickau
organiser:
  name: Koordinierungsbüro des Bündnisses
  email: koordination@buendnis-zwickau.example.org
members: members.csv
capacity: 50
"""
    path = folder / "plenum.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_series_commands_keep_one_calendar_entry_per_meeting_for_members(
    prefect_harness: None, tmp_path: Path, database_url: str, sink: MailSink
) -> None:
    settings = make_settings(tmp_path, database_url, sink.url)
    env = {
        "EVENTKIT_DATABASE_URL": settings.database_url,
        "EVENTKIT_SECRET_KEY": settings.secret_key,
        "EVENTKIT_VAR_DIR": str(settings.var_dir),
        "EVENTKIT_MAIL_DIR": str(tmp_path / "mail"),
        "EVENTKIT_TEMPLATE_DIR": str(TEMPLATES),
        "EVENTKIT_BASE_URL": settings.base_url,
        "EVENTKIT_MAIL_FROM": settings.mail_from,
        "EVENTKIT_SMTP_URL": sink.url,
    }
    # the second Wednesday of the month after next: two meetings lie within the 200 days ahead
    month = (datetime.now(UTC).date().replace(day=1) + timedelta(days=62)).replace(day=1)
    first = rrule(MONTHLY, dtstart=month, byweekday=WE(2), count=1)[0].date()
    second = rrule(MONTHLY, interval=3, dtstart=first, byweekday=WE(2), count=2)[1].date()

    def run(*args: str) -> str:
        result = CliRunner().invoke(main, ["--lang", "en", *args], env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    folder = tmp_path / "series"
    folder.mkdir()
    created = run("series", "create", str(_series_file(folder, first)), "--horizon", "200").split()
    assert created == ["plenum-cli", f"plenum-cli-{first}", f"plenum-cli-{second}"]
    run("series", "invite", "plenum-cli")
    run("series", "update", str(_series_file(folder, first, moved=second)))

    uid = load_stored(settings, "plenum-cli").uid
    member = "beirat@buendnis-zwickau.example.org"
    calendars = []
    for received in sink.handler.received:
        message = email.message_from_bytes(received.data, policy=email.policy.default)  # type: ignore[misc]
        if message["To"].addresses[0].addr_spec != member:
            continue
        part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
        calendars.append(icalendar.Calendar.from_ical(part.get_content()))
    assert len(calendars) >= 2  # the series invitation, then the update (and the meeting's own update)
    client = Client()
    for cal in calendars:
        assert {str(e["UID"]) for e in cal.walk("VEVENT")} == {uid}  # every one about the series' entry
        client.receive(cal)
    assert client.on(second) == []
    (moved,) = client.on(second + timedelta(days=7))
    assert moved["RECURRENCE-ID"].dt.date() == second
    assert len(client.on(first)) == 1  # untouched
    store = Store(settings.database_url)
    with store.session() as session:
        event = session.scalars(select(Event).where(Event.slug == f"plenum-cli-{second}")).one()
        assert event.starts_at.date() == second + timedelta(days=7)
    store.dispose()


def test_the_weekly_run_plans_every_series_with_meetings_ahead(configured: runtime.Runtime) -> None:
    rt = configured
    # an advisory board that met every two months in 2025 and 2026: all past by NOW
    board = """slug: beirat-zwickau
title: Beirat des Bündnisses
format: netzwerktreffen
start: 2025-01-08T18:00
end: 2025-01-08T20:00
timezone: Europe/Berlin
language: de
rrule: FREQ=MONTHLY;INTERVAL=2;BYDAY=2WE
until: 2026-10-31
venue:
  name: Rathaus Zwickau, Beratungsraum
  address: Hauptmarkt 1, 08056 Zwickau
organiser:
  name: Koordinierungsbüro des Bündnisses
  email: koordination@buendnis-zwickau.example.org
members: plenum-buendnis-members.csv
"""
    store_series(rt.settings, parse_series(board, TEMPLATES, base_dir=EXAMPLES / "series"))
    assert active_series(rt.settings, now=NOW) == ["plenum-buendnis-zwickau"]
    result = plan_all_series(horizon_days=200, now=NOW)
    assert list(result) == ["plenum-buendnis-zwickau"]
    assert result["plenum-buendnis-zwickau"]["created"] == [
        "plenum-buendnis-zwickau-2027-01-13",
        "plenum-buendnis-zwickau-2027-04-14",
    ]
    assert plan_all_series(horizon_days=200, now=NOW)["plenum-buendnis-zwickau"] == {"created": [], "planned": []}
