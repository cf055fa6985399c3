"""Check-in per day: who the organisers marked present on which day of an event."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from eventkit.core.validation import N_, Problems, ValidationFailed
from eventkit.db.store import Checkin, Registration
from eventkit.events.events import find_event
from eventkit.model.spec import EventSpec
from eventkit.runtime import Runtime


def default_day(spec: EventSpec, now: datetime | None = None) -> date:
    """The event's day that `now` falls on in the event's time zone, else its first day."""
    today = (now or datetime.now(UTC)).astimezone(spec.start.tzinfo).date()
    return today if today in spec.days else spec.days[0]


def parse_day(value: str) -> date:
    """A day given as YYYY-MM-DD (in a form or a URL), else ValidationFailed naming `day`."""
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        problems = Problems()
        problems.add("day", N_("%(value)r is not a date (expected e.g. 2027-12-31)"), value=value[:20])
        raise ValidationFailed(problems.items) from None


def check_in(
    rt: Runtime,
    slug: str,
    registration_id: int,
    present: bool,
    day: date | None = None,
    now: datetime | None = None,
) -> bool:
    """Mark (or unmark) someone present on a day of the event (by default the day `now` falls on, else the
    first); False if the registration is not one of the event's with a place. A second mark keeps the time
    of the first, and the registration's checked_in_at stays the earliest check-in left."""
    now = now or datetime.now(UTC)
    with rt.store.session(write_lock=True) as session:
        # one change of an event's registrations at a time, as registrations.py does (a cancellation, say)
        event = find_event(session, slug, lock=True)
        spec = EventSpec.from_data(event.spec)
        if day is None:
            day = default_day(spec, now)
        elif day not in spec.days:
            problems = Problems()
            problems.add(
                "day",
                N_("%(value)s is not a day of the event (%(first)s to %(last)s)"),
                value=day.isoformat(),
                first=spec.days[0].isoformat(),
                last=spec.days[-1].isoformat(),
            )
            problems.raise_if_any()
        registration = session.get(Registration, registration_id)
        if registration is None or registration.event_id != event.id or registration.status != "registered":
            return False
        mark = session.scalar(select(Checkin).where(Checkin.registration_id == registration.id, Checkin.day == day))
        if present and mark is None:
            session.add(Checkin(registration_id=registration.id, day=day, at=now))
        elif not present and mark is not None:
            session.delete(mark)
        times = session.scalars(select(Checkin.at).where(Checkin.registration_id == registration.id)).all()
        registration.checked_in_at = min(times, default=None)
        return True


def by_registration(session: Session, event_id: int) -> dict[int, dict[date, datetime]]:
    """Each registration's check-ins of an event: registration id -> {day: when}."""
    out: dict[int, dict[date, datetime]] = defaultdict(dict)
    for registration_id, day, at in session.execute(
        select(Checkin.registration_id, Checkin.day, Checkin.at)
        .join(Registration, Registration.id == Checkin.registration_id)
        .where(Registration.event_id == event_id)
    ):
        out[registration_id][day] = at
    return dict(out)


def day_counts(session: Session, event_id: int, days: list[date]) -> dict[date, int]:
    """How many people with a place were checked in on each of `days` (0 for a day without anyone)."""
    counted = dict(
        session.execute(
            select(Checkin.day, func.count())
            .join(Registration, Registration.id == Checkin.registration_id)
            .where(Registration.event_id == event_id, Registration.status == "registered")
            .group_by(Checkin.day)
        )
        .tuples()
        .all()
    )
    return {day: int(counted.get(day, 0)) for day in days}


@dataclass(frozen=True)
class EventCheckins:
    spec: EventSpec
    by_registration: dict[int, dict[date, datetime]]  # registration id -> {day: when}
    per_day: dict[date, int]  # people with a place checked in, for every day of the event in order


def of_event(rt: Runtime, slug: str) -> EventCheckins:
    """An event's check-ins, for the organisers' check-in view and export."""
    with rt.store.session() as session:
        event = find_event(session, slug)
        spec = EventSpec.from_data(event.spec)
        return EventCheckins(spec, by_registration(session, event.id), day_counts(session, event.id, spec.days))
