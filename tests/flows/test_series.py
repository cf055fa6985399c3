"""plan-series and the series invitation under Prefect: meetings created once, the RRULE calendar delivered."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import icalendar
import pytest
from sqlalchemy import func, select

from eventkit import runtime
from eventkit.mailsink import MailSink
from eventkit.series import load_series
from eventkit.series_store import load_stored, store_series
from eventkit.store import Event, OutboxMessage
from flows.series import plan_series, send_series_invitation
from tests.conftest import EXAMPLES, TEMPLATES, make_settings

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
