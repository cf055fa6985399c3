"""Who acts on the session board: the registered person behind a personal link, and registrations' names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from eventkit.core.errors import UserError
from eventkit.core.tokens import token_subject, verify_signed
from eventkit.core.validation import N_
from eventkit.db.store import Event, Person, Registration
from eventkit.events.events import find_event
from eventkit.registration.rules import InvalidLink
from eventkit.runtime import Runtime


class InvalidBoardLink(InvalidLink):
    """A personal link to the session board or to a session's notes that is not valid."""

    message = N_(
        "This personal link is not valid (any more). Please use the link from your most recent email, "
        "or open the session board from your personal registration page."
    )


class NotRegistered(PermissionError, UserError):
    """A valid personal link of someone without a place (waiting list, cancelled)."""

    message = N_("Only people with a place at the event can propose sessions and mark interest.")
    status = 403


@dataclass(frozen=True)
class Participant:
    registration_id: int
    name: str
    language: str


def participant_registration(session: DbSession, rt: Runtime, event: Event, token: str) -> Registration:
    """The registration a personal link belongs to; InvalidBoardLink or NotRegistered as participant() says."""
    subject = token_subject(token or "")
    registration = session.get(Registration, subject) if subject is not None else None
    if (
        registration is None
        or registration.event_id != event.id
        or not verify_signed(rt.settings.secret_key, "manage", token, registration.id, registration.token_nonce)
    ):
        raise InvalidBoardLink(event.slug)
    if registration.status != "registered":
        raise NotRegistered(event.slug)
    return registration


def participant(rt: Runtime, slug: str, token: str) -> Participant:
    """The registered person a personal link belongs to; InvalidLink or NotRegistered otherwise."""
    with rt.store.session() as session:
        event = find_event(session, slug)
        registration = participant_registration(session, rt, event, token)
        person = registration.person
        return Participant(registration.id, person.name, person.language)


def names_of(session: DbSession, registration_ids: Sequence[int]) -> dict[int, str]:
    if not registration_ids:
        return {}
    rows = session.execute(
        select(Registration.id, Person.name)
        .join(Person, Person.id == Registration.person_id)
        .where(Registration.id.in_(set(registration_ids)))
    )
    return {rid: name for rid, name in rows}


def registered_ids(session: DbSession, event_id: int) -> set[int]:
    return set(
        session.scalars(
            select(Registration.id).where(Registration.event_id == event_id, Registration.status == "registered")
        )
    )
