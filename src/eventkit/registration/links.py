"""Personal links: the invited person of an invitation link; a signed link's registration, what it shows or changes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from eventkit.consent import consents
from eventkit.core.tokens import token_hash, token_subject, verify_signed
from eventkit.db.store import Event, Invitation, Person, Registration
from eventkit.events.events import find_event
from eventkit.model.registration_form import RegistrationInput
from eventkit.registration import waitlist
from eventkit.registration.rules import ACTIVE, InvalidLink, Outcome, locked_event, outcome
from eventkit.registration.specs import spec_of
from eventkit.runtime import Runtime


def invitation_digest(rt: Runtime, token: str | None) -> str | None:
    """How a personal invitation link's token is stored (a keyed hash); None for no token or one of the wrong
    shape, which can belong to no invitation."""
    if not token or len(token) > 100 or not token.isascii():
        return None
    return token_hash(rt.settings.secret_key, "register", token)


def invitation_person(session: Session, rt: Runtime, event_id: int, token: str | None) -> Person | None:
    """The invited person a personal invitation link belongs to, or None for a wrong or missing token."""
    digest = invitation_digest(rt, token)
    if digest is None:
        return None
    return session.scalar(
        select(Person)
        .join(Invitation, Invitation.person_id == Person.id)
        .where(Invitation.token_hash == digest, Invitation.event_id == event_id)
    )


def by_token(session: Session, rt: Runtime, slug: str, purpose: str, token: str) -> tuple[Event, Registration]:
    """The event and the registration of a personal link for `purpose` (InvalidLink if it matches none)."""
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


def peek(rt: Runtime, slug: str, purpose: str, token: str) -> dict[str, Any]:
    """What a personal link shows (read only): the registration, its person and its place."""
    with rt.store.session() as session:
        event, registration = by_token(session, rt, slug, purpose, token)
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
            "position": waitlist.position(session, registration),
            "expires_at": registration.expires_at,
            "checked_in": registration.checked_in_at is not None,
        }


def update(rt: Runtime, slug: str, token: str, data: RegistrationInput) -> Outcome:
    """Change one's answers (and name or organisation); the email address stays what was confirmed."""
    with rt.store.session(write_lock=True) as session:
        event = locked_event(session, slug)
        _, registration = by_token(session, rt, slug, "manage", token)
        if registration.status not in ACTIVE:
            raise InvalidLink(slug)
        person = registration.person
        person.name, person.organisation = data.name, data.organisation
        if data.language:
            person.language = data.language
        registration.answers = data.answers
        spec = spec_of(rt, event)
        consents.record_registration(session, event, spec, person, data.answers, "manage-page", notice=False)
        return outcome(session, rt, registration, created=False)
