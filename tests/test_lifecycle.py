"""The lifecycle plan: phases at the format's offsets, in UTC, past ones skipped, missing flows named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eventkit.model import lifecycle
from eventkit.model.formats import discover
from eventkit.model.spec import parse_spec
from tests.conftest import TEMPLATES
from tests.test_spec import GOOD


def _plan(spec_text: str = GOOD, now: datetime | None = None) -> dict[str, lifecycle.Phase]:
    spec = parse_spec(spec_text, TEMPLATES)
    return {p.name: p for p in lifecycle.plan(spec, discover(TEMPLATES)[spec.format], now)}


def test_phases_at_the_format_offsets_in_utc() -> None:
    phases = _plan(now=datetime(2027, 1, 1, tzinfo=UTC))
    # 2027-11-20 12:00-17:00 Europe/Berlin is 11:00-16:00 UTC; the deadline 2027-11-16 23:59 is 22:59 UTC
    assert phases["reminder-7d"].at == datetime(2027, 11, 13, 11, 0, tzinfo=UTC)
    assert phases["reminder-1d"].at == datetime(2027, 11, 19, 11, 0, tzinfo=UTC)
    assert phases["reminder-7d"].parameters == {"slug": "fachvernetzung-2027-gifhorn", "reminder": "7d"}
    assert phases["reminder-7d"].deployment == "send-reminder/send-reminder"
    assert phases["registration-close"].at == datetime(2027, 11, 16, 22, 59, tzinfo=UTC)
    assert phases["registration-close"].deployment == "deliver-outbox/deliver-outbox"
    assert phases["evaluation"].at == datetime(2027, 12, 4, 16, 0, tzinfo=UTC)
    assert {p.status for p in phases.values() if p.deployment} == {lifecycle.PLANNED}
    assert phases["recap"].deployment == "recap/recap"
    assert phases["recap"].at == datetime(2027, 11, 21, 16, 0, tzinfo=UTC)  # a day after the end
    assert phases["survey"].deployment == "send-survey/send-survey"
    assert phases["survey-reminder"].deployment == "send-survey-reminder/send-survey-reminder"
    assert phases["evaluation"].deployment == "evaluate-survey/evaluate-survey"
    assert {n for n, p in phases.items() if p.status == lifecycle.UNAVAILABLE} <= {"purge"}


def test_without_a_deadline_registration_closes_at_the_start() -> None:
    phases = _plan(GOOD.replace("registration_deadline: 2027-11-16T23:59\n", ""), datetime(2027, 1, 1, tzinfo=UTC))
    assert phases["registration-close"].at == datetime(2027, 11, 20, 11, 0, tzinfo=UTC)


def test_phases_already_past_are_skipped() -> None:
    phases = _plan(now=datetime(2027, 11, 15, tzinfo=UTC))
    assert phases["reminder-7d"].status == lifecycle.PAST
    assert phases["reminder-1d"].status == lifecycle.PLANNED


def test_the_key_names_event_phase_and_sequence() -> None:
    phase = _plan()["reminder-1d"]
    assert phase.idempotency_key("slug", 2) == "slug:reminder-1d:2"
    assert phase.run_name("slug") == "reminder 1d · slug"
    assert lifecycle.Phase.from_dict(phase.as_dict()) == phase


def test_durations_read_back() -> None:
    assert [lifecycle.format_duration(d) for d in (timedelta(days=7), timedelta(hours=36), timedelta(minutes=90))] == [
        "7d",
        "1d12h",
        "1h30m",
    ]


def test_the_timeline_artifact_shows_local_times_and_no_people() -> None:
    spec = parse_spec(GOOD, TEMPLATES)
    timeline = lifecycle.plan(spec, discover(TEMPLATES)[spec.format], datetime(2027, 1, 1, tzinfo=UTC))
    text = lifecycle.timeline_markdown(spec.slug, spec.timezone, timeline)
    assert "| reminder-7d | 2027-11-13 12:00 | send-reminder/send-reminder | planned | – |" in text
    assert "@" not in text
