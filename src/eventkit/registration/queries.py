"""What organisers and the public read of an event's registrations: the list, the counts, the places left."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from eventkit.db.store import Person, Registration
from eventkit.events.events import find_event
from eventkit.model.spec import EventSpec
from eventkit.registration import waitlist
from eventkit.registration.rules import is_closed, taken
from eventkit.registration.specs import spec_of
from eventkit.runtime import Runtime


@dataclass(frozen=True)
class Row:
    id: int
    status: str
    name: str
    email: str
    organisation: str | None
    language: str
    source: str
    answers: dict[str, Any]
    created_at: datetime
    checked_in_at: datetime | None
    position: int | None


def listing(rt: Runtime, slug: str) -> tuple[EventSpec, list[Row]]:
    """Every registration of an event for the organiser: places first, then the waiting list in order."""
    order = {"registered": 0, "waitlisted": 1, "pending": 2, "cancelled": 3, "expired": 4}
    with rt.store.session() as session:
        event = find_event(session, slug)
        spec = spec_of(rt, event)
        rows = session.execute(
            select(Registration, Person)
            .join(Person, Person.id == Registration.person_id)
            .where(Registration.event_id == event.id)
            .order_by(*waitlist.ORDER)  # the waiting list's places are counted along the way
        ).all()
    out = []
    position = 0
    for registration, person in rows:
        if registration.status == "waitlisted":
            position += 1
        details = registration.pending or {}
        out.append(
            Row(
                registration.id,
                registration.status,
                details.get("name") or person.name,
                person.email,
                details.get("organisation") if registration.pending else person.organisation,
                details.get("language") or person.language,
                registration.source,
                dict(registration.answers or {}),
                registration.created_at,
                registration.checked_in_at,
                position if registration.status == "waitlisted" else None,
            )
        )
    out.sort(key=lambda r: (order.get(r.status, 9), r.created_at, r.id))
    return spec, out


def counts(rt: Runtime, slug: str) -> dict[str, int]:
    with rt.store.session() as session:
        event = find_event(session, slug)
        rows = session.execute(
            select(Registration.status, func.count())
            .where(Registration.event_id == event.id)
            .group_by(Registration.status)
        ).all()
    return {status: n for status, n in rows}


def availability(rt: Runtime, slug: str, now: datetime | None = None) -> dict[str, Any]:
    """What the public may know: places left (None without a limit), waiting list, open or closed."""
    now = now or datetime.now(UTC)
    with rt.store.session() as session:
        event = find_event(session, slug)
        spec = spec_of(rt, event)
        n = taken(session, event.id)
    return {
        "capacity": spec.capacity,
        "registered": n,
        "places_left": None if spec.capacity is None else max(spec.capacity - n, 0),
        "open": not is_closed(event, spec, now),
        "registration_deadline": spec.registration_deadline,
    }
