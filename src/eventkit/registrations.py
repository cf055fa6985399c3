"""Registrations: a place while there is one, the waiting list after that, promotion when a place frees."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from eventkit.events import EventNotFound
from eventkit.spec import EventSpec
from eventkit.store import Event, Person, Registration, Store, utcnow

ACTIVE = ("registered", "waitlisted")


class RegistrationClosed(Exception):
    """The deadline has passed or the event was cancelled."""


@dataclass(frozen=True)
class RegistrationResult:
    registration_id: int
    person_id: int
    status: str  # registered or waitlisted
    created: bool  # False: the person was registered already and gets that registration back


def _locked_event(session: Session, slug: str) -> Event:
    # one registration of an event at a time: FOR UPDATE on PostgreSQL, the write lock on SQLite
    event = session.scalar(select(Event).where(Event.slug == slug).with_for_update())
    if event is None:
        raise EventNotFound(slug)
    return event


def _person_id(session: Session, email: str, name: str, organisation: str | None, language: str) -> int:
    """The person with this address, made if new; their name and details are updated to what they gave."""
    values = {"email": email, "name": name, "organisation": organisation, "language": language,
              "created_at": utcnow(), "updated_at": utcnow()}  # fmt: skip
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # a person may register for two events at once: the insert must not fail on the other one's row
    session.execute(insert(Person).values(**values).on_conflict_do_nothing(index_elements=["email"]))
    person = session.scalars(select(Person).where(Person.email == email)).one()
    person.name, person.organisation, person.language = name, organisation, language
    return person.id


def register(
    store: Store,
    slug: str,
    *,
    email: str,
    name: str,
    organisation: str | None = None,
    language: str = "de",
    answers: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> RegistrationResult:
    """Register a person (already validated) for an event: never more registered than its capacity."""
    now = now or datetime.now(UTC)
    with store.session(write_lock=True) as session:
        event = _locked_event(session, slug)
        spec = EventSpec.from_data(event.spec)
        if event.status == "cancelled" or (spec.registration_deadline and now > spec.registration_deadline):
            raise RegistrationClosed(slug)
        person_id = _person_id(session, email, name, organisation, language)
        existing = session.scalar(
            select(Registration).where(Registration.event_id == event.id, Registration.person_id == person_id)
        )
        if existing is not None and existing.status in ACTIVE:
            return RegistrationResult(existing.id, person_id, existing.status, False)
        taken = session.scalar(
            select(func.count()).where(Registration.event_id == event.id, Registration.status == "registered")
        )
        status = "registered" if spec.capacity is None or (taken or 0) < spec.capacity else "waitlisted"
        if existing is None:
            existing = Registration(event_id=event.id, person_id=person_id, status=status, answers=answers or {})
            session.add(existing)
        else:  # registering again after cancelling
            existing.status, existing.answers, existing.created_at = status, answers or {}, utcnow()
        session.flush()
        return RegistrationResult(existing.id, person_id, status, True)


def cancel(store: Store, slug: str, registration_id: int) -> RegistrationResult | None:
    """Cancel a registration; when that frees a place, the first person waiting gets it (returned)."""
    with store.session(write_lock=True) as session:
        event = _locked_event(session, slug)
        registration = session.get(Registration, registration_id)
        if registration is None or registration.event_id != event.id or registration.status not in ACTIVE:
            return None
        freed = registration.status == "registered"
        registration.status = "cancelled"
        if not freed:
            return None
        session.flush()
        first = session.scalars(
            select(Registration)
            .where(Registration.event_id == event.id, Registration.status == "waitlisted")
            .order_by(Registration.created_at, Registration.id)
            .limit(1)
        ).first()
        if first is None:
            return None
        first.status = "registered"
        return RegistrationResult(first.id, first.person_id, "registered", False)


def counts(store: Store, slug: str) -> dict[str, int]:
    with store.session() as session:
        event = session.scalar(select(Event).where(Event.slug == slug))
        if event is None:
            raise EventNotFound(slug)
        rows = session.execute(
            select(Registration.status, func.count())
            .where(Registration.event_id == event.id)
            .group_by(Registration.status)
        ).all()
    return {status: n for status, n in rows}
