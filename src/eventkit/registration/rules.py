"""The rules of a place: when registration is closed, who gets a place or waits, and what a change answers.

Every change is one transaction that also puts its email into the outbox, so that a registration never
exists without its confirmation being on its way (and an email never without its registration). A person
invited by a personal link has a place at once; anyone else confirms their address first (double opt-in)
and counts only then. No more people are ever registered than the event has places: on PostgreSQL the
event row is locked (SELECT ... FOR UPDATE), on SQLite the write lock is taken at the start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from eventkit.core.errors import N_, UserError
from eventkit.core.tokens import signed_token
from eventkit.db.store import Event, Registration
from eventkit.events.events import find_event
from eventkit.model.spec import EventSpec
from eventkit.registration import waitlist
from eventkit.runtime import Runtime

ACTIVE = ("registered", "waitlisted")


class RegistrationClosed(UserError):
    """The deadline has passed or the event was cancelled."""

    message = N_("Registration for this event is closed.")
    status = 409

    def __init__(self, slug: str):
        Exception.__init__(self, slug)  # the slug, as it always was; the message is the class's


class InvalidLink(LookupError, UserError):
    """A personal link that does not match any registration (mistyped, revoked, or for another purpose)."""

    message = N_(
        "This personal link is not valid (any more). Please use the link from your most recent email, "
        "or register again on the event page."
    )
    status = 404


@dataclass(frozen=True)
class Outcome:
    registration_id: int
    person_id: int
    status: str  # pending, registered, waitlisted, cancelled, expired
    created: bool  # False: nothing changed (already registered, or a repeated click)
    position: int | None = None  # on the waiting list, counted from 1
    manage_token: str | None = None  # for the page that shows the outcome; None when nothing changed
    promoted: int | None = None  # the registration that got a freed place


class SpecChanged(Exception):
    """The event changed after its spec was read for checking the input: check the input again."""


def locked_event(session: Session, slug: str) -> Event:
    # one registration change of an event at a time: FOR UPDATE on PostgreSQL, the write lock on SQLite
    return find_event(session, slug, lock=True)


def is_closed(event: Event, spec: EventSpec, now: datetime) -> bool:
    return closed(event.status, spec, now)


def closed(status: str, spec: EventSpec, now: datetime) -> bool:
    """is_closed for an event's status as read without the ORM."""
    if status == "cancelled" or now >= spec.end:
        return True
    return spec.registration_deadline is not None and now > spec.registration_deadline


def taken(session: Session, event_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).where(Registration.event_id == event_id, Registration.status == "registered")
        )
        or 0
    )


def new_status(spec: EventSpec, taken: Callable[[], int]) -> str:
    """A place if one is left, else a place on the waiting list (the places taken are counted only when the
    event has a limit)."""
    return "registered" if spec.capacity is None or taken() < spec.capacity else "waitlisted"


def allocate(session: Session, event: Event, spec: EventSpec, registration: Registration, now: datetime) -> None:
    """Give a place if there is one, else a place on the waiting list (the event row is locked)."""
    registration.status = new_status(spec, lambda: taken(session, event.id))
    registration.created_at = now  # the waiting list is ordered by the time a place was asked for
    registration.confirmed_at = now
    registration.expires_at = None
    registration.revision += 1


def manage_token(rt: Runtime, registration: Registration) -> str:
    return signed_token(rt.settings.secret_key, "manage", registration.id, registration.token_nonce)


def confirm_token(rt: Runtime, registration: Registration) -> str:
    return signed_token(rt.settings.secret_key, "confirm", registration.id, registration.token_nonce)


def outcome(
    session: Session, rt: Runtime, registration: Registration, created: bool, promoted: int | None = None
) -> Outcome:
    """What a change made through the ORM answers (its place on the waiting list counted)."""
    if created and registration.status == "waitlisted":
        # just put on the list, with the newest time of all: its place is the length of the list
        position: int | None = waitlist.length(session, registration.event_id)
    else:
        position = waitlist.position(session, registration)
    return Outcome(
        registration.id,
        registration.person_id,
        registration.status,
        created,
        position,
        manage_token(rt, registration) if created and registration.status != "pending" else None,
        promoted,
    )
