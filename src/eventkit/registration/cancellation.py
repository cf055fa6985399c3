"""Cancellation, by personal link or by the organiser: a freed place goes to the first person waiting."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from eventkit.db.store import Event, Registration
from eventkit.model.spec import EventSpec
from eventkit.registration import emails, waitlist
from eventkit.registration.links import by_token
from eventkit.registration.rules import ACTIVE, InvalidLink, Outcome, locked_event, outcome, taken
from eventkit.registration.specs import spec_of
from eventkit.runtime import Runtime


def cancel(rt: Runtime, slug: str, token: str, *, now: datetime | None = None) -> Outcome:
    """Cancel by personal link; a freed place goes to the first person waiting, who is told by email."""
    now = now or datetime.now(UTC)
    with rt.store.session(write_lock=True) as session:
        event = locked_event(session, slug)
        _, registration = by_token(session, rt, slug, "manage", token)
        if registration.status not in ACTIVE:
            return outcome(session, rt, registration, created=False)
        return _cancel(session, rt, event, registration, now)


def cancel_by_organiser(rt: Runtime, slug: str, registration_id: int, *, now: datetime | None = None) -> Outcome:
    now = now or datetime.now(UTC)
    with rt.store.session(write_lock=True) as session:
        event = locked_event(session, slug)
        registration = session.get(Registration, registration_id)
        if registration is None or registration.event_id != event.id:
            raise InvalidLink(slug)
        if registration.status not in ACTIVE:
            return outcome(session, rt, registration, created=False)
        return _cancel(session, rt, event, registration, now)


def _cancel(session: Session, rt: Runtime, event: Event, registration: Registration, now: datetime) -> Outcome:
    spec = spec_of(rt, event)
    had_place = registration.status == "registered"
    registration.status = "cancelled"
    registration.cancelled_at = now
    registration.revision += 1
    session.flush()
    emails.enqueue(session, rt, event, registration.person, registration, now=now, had_place=had_place)
    promoted = _promote(session, rt, event, spec, now) if had_place else None
    return Outcome(registration.id, registration.person_id, "cancelled", True, promoted=promoted)


def _promote(session: Session, rt: Runtime, event: Event, spec: EventSpec, now: datetime) -> int | None:
    if now >= spec.start or event.status == "cancelled":
        return None  # a place freed once the event runs is not given away by email any more
    if spec.capacity is not None and taken(session, event.id) >= spec.capacity:
        return None
    first = waitlist.first(session, event.id)
    if first is None:
        return None
    first.status = "registered"
    first.revision += 1
    session.flush()
    emails.enqueue(session, rt, event, first.person, first, now=now, promoted=True)
    return first.id
