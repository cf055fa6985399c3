"""Registrations: a place while there is one, the waiting list after that, promotion when a place frees.

Every change is one transaction that also puts its email into the outbox, so that a registration never
exists without its confirmation being on its way (and an email never without its registration). A person
invited by a personal link has a place at once; anyone else confirms their address first (double opt-in)
and counts only then. No more people are ever registered than the event has places: on PostgreSQL the
event row is locked (SELECT ... FOR UPDATE), on SQLite the write lock is taken at the start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from eventkit import consents, notifications
from eventkit.events import find_event
from eventkit.registration_form import RegistrationInput, form_fields
from eventkit.runtime import Runtime
from eventkit.spec import EventSpec
from eventkit.store import Event, Invitation, Person, Registration, utcnow
from eventkit.tokens import new_nonce, signed_token, token_hash, token_subject, verify_signed

ACTIVE = ("registered", "waitlisted")
OPTIN_VALID = timedelta(hours=48)  # an unconfirmed public request lapses after this


class RegistrationClosed(Exception):
    """The deadline has passed or the event was cancelled."""


class InvalidLink(LookupError):
    """A personal link that does not match any registration (mistyped, revoked, or for another purpose)."""


@dataclass(frozen=True)
class Outcome:
    registration_id: int
    person_id: int
    status: str  # pending, registered, waitlisted, cancelled, expired
    created: bool  # False: nothing changed (already registered, or a repeated click)
    position: int | None = None  # on the waiting list, counted from 1
    manage_token: str | None = None  # for the page that shows the outcome; None when nothing changed
    promoted: int | None = None  # the registration that got a freed place


def _locked_event(session: Session, slug: str) -> Event:
    # one registration change of an event at a time: FOR UPDATE on PostgreSQL, the write lock on SQLite
    return find_event(session, slug, lock=True)


def is_closed(event: Event, spec: EventSpec, now: datetime) -> bool:
    if event.status == "cancelled" or now >= spec.end:
        return True
    return spec.registration_deadline is not None and now > spec.registration_deadline


def _person(session: Session, email: str, name: str, organisation: str | None, language: str) -> Person:
    """The person with this address, made if new (a person may register for two events at once)."""
    now = utcnow()
    values = {"email": email, "name": name, "organisation": organisation, "language": language,
              "created_at": now, "updated_at": now}  # fmt: skip
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    # one statement whether new or known: the no-op update makes RETURNING give the existing row's id
    statement = insert(Person).values(**values)
    statement = statement.on_conflict_do_update(index_elements=["email"], set_={"email": statement.excluded.email})
    person_id = session.scalar(statement.returning(Person.id))
    person = session.get(Person, person_id)
    assert person is not None
    return person


def _taken(session: Session, event_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).where(Registration.event_id == event_id, Registration.status == "registered")
        )
        or 0
    )


def waitlist_position(session: Session, registration: Registration) -> int | None:
    """Place on the waiting list, counted from 1, in the order (created_at, id)."""
    if registration.status != "waitlisted":
        return None
    waiting = (Registration.event_id == registration.event_id) & (Registration.status == "waitlisted")
    # two range counts on (event_id, status, created_at); one OR of both would scan the waiting list
    up_to = session.scalar(select(func.count()).where(waiting, Registration.created_at <= registration.created_at))
    tied_after = session.scalar(
        select(func.count()).where(
            waiting, Registration.created_at == registration.created_at, Registration.id > registration.id
        )
    )
    return (up_to or 0) - (tied_after or 0)


def _allocate(session: Session, event: Event, spec: EventSpec, registration: Registration, now: datetime) -> None:
    """Give a place if there is one, else a place on the waiting list (the event row is locked)."""
    registration.status = (
        "registered" if spec.capacity is None or _taken(session, event.id) < spec.capacity else "waitlisted"
    )
    registration.created_at = now  # the waiting list is ordered by the time a place was asked for
    registration.confirmed_at = now
    registration.expires_at = None
    registration.revision += 1


def manage_token(rt: Runtime, registration: Registration) -> str:
    return signed_token(rt.settings.secret_key, "manage", registration.id, registration.token_nonce)


def confirm_token(rt: Runtime, registration: Registration) -> str:
    return signed_token(rt.settings.secret_key, "confirm", registration.id, registration.token_nonce)


def _outcome(
    session: Session, rt: Runtime, registration: Registration, created: bool, promoted: int | None = None
) -> Outcome:
    if created and registration.status == "waitlisted":
        # just put on the list, with the newest time of all: its place is the length of the list
        position: int | None = session.scalar(
            select(func.count()).where(
                Registration.event_id == registration.event_id, Registration.status == "waitlisted"
            )
        )
    else:
        position = waitlist_position(session, registration)
    return Outcome(
        registration.id,
        registration.person_id,
        registration.status,
        created,
        position,
        manage_token(rt, registration) if created and registration.status != "pending" else None,
        promoted,
    )


def invitation_person(session: Session, rt: Runtime, event_id: int, token: str | None) -> Person | None:
    """The invited person a personal invitation link belongs to, or None for a wrong or missing token."""
    if not token or len(token) > 100 or not token.isascii():
        return None
    digest = token_hash(rt.settings.secret_key, "register", token)
    return session.scalar(
        select(Person)
        .join(Invitation, Invitation.person_id == Person.id)
        .where(Invitation.token_hash == digest, Invitation.event_id == event_id)
    )


def submit(
    rt: Runtime,
    slug: str,
    data: RegistrationInput,
    *,
    invitation_token: str | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Register a person (already validated): with a valid invitation link at once, else after opt-in.

    A person with a place or on the waiting list gets that back unchanged; a repeated public request
    renews the confirmation email.
    """
    now = now or datetime.now(UTC)
    with rt.store.session(write_lock=True) as session:
        event = _locked_event(session, slug)
        spec = spec_of(event)
        if is_closed(event, spec, now):
            raise RegistrationClosed(slug)
        language = data.language or spec.language
        invited = invitation_person(session, rt, event.id, invitation_token)
        trusted = invited is not None and invited.email == data.email
        # an invited person exists already; anyone else is made on first sight
        person = (
            invited
            if trusted and invited is not None
            else _person(session, data.email, data.name, data.organisation, language)
        )
        registration = session.scalar(
            select(Registration).where(Registration.event_id == event.id, Registration.person_id == person.id)
        )
        if registration is not None and registration.status in ACTIVE:
            if trusted:
                return _outcome(session, rt, registration, created=False)
            # whoever typed this address may not be its owner: the owner gets their personal link again
            # by email, and the page says no more than "look in your mailbox"
            registration.revision += 1
            session.flush()
            notifications.enqueue(session, rt, event, person, registration, now=now)
            return Outcome(registration.id, person.id, "pending", False)
        if registration is None:
            registration = Registration(
                event_id=event.id, person_id=person.id, status="pending", token_nonce=new_nonce(), revision=0
            )
            session.add(registration)
        registration.answers = data.answers
        registration.cancelled_at = None
        registration.checked_in_at = None
        details = {"name": data.name, "organisation": data.organisation, "language": language}
        if trusted:
            registration.source = "invited"
            person.name, person.organisation, person.language = data.name, data.organisation, language
            registration.pending = None
            _allocate(session, event, spec, registration, now)
            session.flush()
            consents.record_registration(session, event, spec, person, data.answers, "registration", now=now)
            notifications.enqueue(session, rt, event, person, registration, now=now)
        else:
            # nothing about an existing person changes before the address owner confirms
            registration.source = "public"
            registration.status = "pending"
            registration.pending = details
            registration.created_at = now
            registration.expires_at = min(now + OPTIN_VALID, spec.registration_deadline or spec.end, spec.end)
            registration.revision += 1
            session.flush()
            notifications.enqueue(
                session, rt, event, person, registration, now=now,
                recipient_name=data.name, language=language,
            )  # fmt: skip
        return _outcome(session, rt, registration, created=True)


def _by_token(session: Session, rt: Runtime, slug: str, purpose: str, token: str) -> tuple[Event, Registration]:
    subject = token_subject(token or "")
    registration = session.get(Registration, subject) if subject is not None else None
    event = find_event(session, slug)
    if (
        registration is None
        or registration.event_id != event.id
        or not verify_signed(rt.settings.secret_key, purpose, token, registration.id, registration.token_nonce)
    ):
        raise InvalidLink(slug)
    return event, registration


def confirm(rt: Runtime, slug: str, token: str, *, now: datetime | None = None) -> Outcome:
    """The address owner confirms a public request: it gets a place or a place on the waiting list."""
    now = now or datetime.now(UTC)
    with rt.store.session(write_lock=True) as session:
        event = _locked_event(session, slug)
        _, registration = _by_token(session, rt, slug, "confirm", token)
        spec = spec_of(event)
        if registration.status != "pending":
            return _outcome(session, rt, registration, created=False)  # a second click changes nothing
        if registration.expires_at is not None and now >= registration.expires_at:
            registration.status = "expired"
            return _outcome(session, rt, registration, created=False)
        if is_closed(event, spec, now):
            raise RegistrationClosed(slug)
        person = registration.person
        details = registration.pending or {}
        person.name = details.get("name") or person.name
        person.organisation = details.get("organisation")
        person.language = details.get("language") or person.language
        registration.pending = None
        _allocate(session, event, spec, registration, now)
        session.flush()
        # a public request's consents count once the address owner confirms it
        consents.record_registration(session, event, spec, person, registration.answers or {}, "confirmation", now=now)
        notifications.enqueue(session, rt, event, person, registration, now=now)
        return _outcome(session, rt, registration, created=True)


def peek(rt: Runtime, slug: str, purpose: str, token: str) -> dict[str, Any]:
    """What a personal link shows (read only): the registration, its person and its place."""
    with rt.store.session() as session:
        event, registration = _by_token(session, rt, slug, purpose, token)
        person = registration.person
        details = registration.pending or {}
        return {
            "id": registration.id,
            "status": registration.status,
            "name": details.get("name") or person.name,
            "email": person.email,
            "organisation": details.get("organisation") if registration.pending else person.organisation,
            "language": details.get("language") or person.language,
            "answers": dict(registration.answers or {}),
            "position": waitlist_position(session, registration),
            "expires_at": registration.expires_at,
            "checked_in": registration.checked_in_at is not None,
        }


def update(rt: Runtime, slug: str, token: str, data: RegistrationInput) -> Outcome:
    """Change one's answers (and name or organisation); the email address stays what was confirmed."""
    with rt.store.session(write_lock=True) as session:
        event = _locked_event(session, slug)
        _, registration = _by_token(session, rt, slug, "manage", token)
        if registration.status not in ACTIVE:
            raise InvalidLink(slug)
        person = registration.person
        person.name, person.organisation = data.name, data.organisation
        if data.language:
            person.language = data.language
        registration.answers = data.answers
        consents.record_registration(session, event, spec_of(event), person, data.answers, "manage-page", notice=False)
        return _outcome(session, rt, registration, created=False)


def cancel(rt: Runtime, slug: str, token: str, *, now: datetime | None = None) -> Outcome:
    """Cancel by personal link; a freed place goes to the first person waiting, who is told by email."""
    now = now or datetime.now(UTC)
    with rt.store.session(write_lock=True) as session:
        event = _locked_event(session, slug)
        _, registration = _by_token(session, rt, slug, "manage", token)
        if registration.status not in ACTIVE:
            return _outcome(session, rt, registration, created=False)
        return _cancel(session, rt, event, registration, now)


def _cancel(session: Session, rt: Runtime, event: Event, registration: Registration, now: datetime) -> Outcome:
    spec = spec_of(event)
    had_place = registration.status == "registered"
    registration.status = "cancelled"
    registration.cancelled_at = now
    registration.revision += 1
    session.flush()
    notifications.enqueue(session, rt, event, registration.person, registration, now=now, had_place=had_place)
    promoted = _promote(session, rt, event, spec, now) if had_place else None
    return Outcome(registration.id, registration.person_id, "cancelled", True, promoted=promoted)


def _promote(session: Session, rt: Runtime, event: Event, spec: EventSpec, now: datetime) -> int | None:
    if now >= spec.start or event.status == "cancelled":
        return None  # a place freed once the event runs is not given away by email any more
    if spec.capacity is not None and _taken(session, event.id) >= spec.capacity:
        return None
    first = session.scalars(
        select(Registration)
        .where(Registration.event_id == event.id, Registration.status == "waitlisted")
        .order_by(Registration.created_at, Registration.id)
        .limit(1)
    ).first()
    if first is None:
        return None
    first.status = "registered"
    first.revision += 1
    session.flush()
    notifications.enqueue(session, rt, event, first.person, first, now=now, promoted=True)
    return first.id


def cancel_by_organiser(rt: Runtime, slug: str, registration_id: int, *, now: datetime | None = None) -> Outcome:
    now = now or datetime.now(UTC)
    with rt.store.session(write_lock=True) as session:
        event = _locked_event(session, slug)
        registration = session.get(Registration, registration_id)
        if registration is None or registration.event_id != event.id:
            raise InvalidLink(slug)
        if registration.status not in ACTIVE:
            return _outcome(session, rt, registration, created=False)
        return _cancel(session, rt, event, registration, now)


def expire_pending(rt: Runtime, *, now: datetime | None = None) -> int:
    """Unconfirmed public requests past their time lapse (they never held a place); returns how many."""
    now = now or datetime.now(UTC)
    with rt.store.session(write_lock=True) as session:
        rows = session.scalars(
            select(Registration).where(Registration.status == "pending", Registration.expires_at <= now)
        ).all()
        for registration in rows:
            registration.status = "expired"
            registration.pending = None
        return len(rows)


def check_in(rt: Runtime, slug: str, registration_id: int, present: bool, *, now: datetime | None = None) -> bool:
    """Mark (or unmark) attendance on the day; only people with a place can be checked in."""
    with rt.store.session() as session:
        event = find_event(session, slug)
        registration = session.get(Registration, registration_id)
        if registration is None or registration.event_id != event.id or registration.status != "registered":
            return False
        registration.checked_in_at = (now or datetime.now(UTC)) if present else None
        return True


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
        spec = spec_of(event)
        rows = session.execute(
            select(Registration, Person)
            .join(Person, Person.id == Registration.person_id)
            .where(Registration.event_id == event.id)
            .order_by(Registration.created_at, Registration.id)
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
        spec = spec_of(event)
        taken = _taken(session, event.id)
    return {
        "capacity": spec.capacity,
        "registered": taken,
        "places_left": None if spec.capacity is None else max(spec.capacity - taken, 0),
        "open": not is_closed(event, spec, now),
        "registration_deadline": spec.registration_deadline,
    }


_specs: dict[tuple[int, Any], EventSpec] = {}
_fields: dict[tuple[str, str, str], list[Any]] = {}


def spec_of(event: Event) -> EventSpec:
    """The event's spec, parsed once per version of the event row (it is read on every registration)."""
    key = (event.id, event.updated_at)
    spec = _specs.get(key)
    if spec is None:
        if len(_specs) > 256:
            _specs.clear()
        spec = _specs[key] = EventSpec.from_data(event.spec)
    return spec


def event_spec(rt: Runtime, slug: str) -> EventSpec:
    """The spec of the event with this slug (EventNotFound if there is none)."""
    with rt.store.session() as session:
        return spec_of(find_event(session, slug))


def event_fields(rt: Runtime, spec: EventSpec) -> list[Any]:
    """The registration fields of an event (cached per spec: they are asked for on every registration)."""
    from eventkit.events import format_for

    key = (spec.slug, spec.format, json.dumps(spec.extra, sort_keys=True, default=str))
    fields = _fields.get(key)
    if fields is None:
        if len(_fields) > 256:
            _fields.clear()
        fields = _fields[key] = form_fields(format_for(rt.settings, spec.format), spec)
    return fields
