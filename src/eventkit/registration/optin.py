"""Double opt-in: a public request, its confirmation by the address owner, and its lapse when unconfirmed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from eventkit.consent import consents
from eventkit.core.tokens import new_nonce
from eventkit.db.store import Registration, utcnow
from eventkit.mail import delivery
from eventkit.model.registration_form import RegistrationInput
from eventkit.model.spec import EventSpec
from eventkit.registration import emails
from eventkit.registration.links import by_token
from eventkit.registration.rules import Outcome, RegistrationClosed, allocate, is_closed, locked_event, outcome
from eventkit.registration.specs import spec_of
from eventkit.registration.statements import INSERT_REGISTRATION, Ref
from eventkit.runtime import Runtime

OPTIN_VALID = timedelta(hours=48)  # an unconfirmed public request lapses after this


def expiry(spec: EventSpec, now: datetime) -> datetime:
    """When a public request made now lapses unconfirmed: after OPTIN_VALID, at the latest at the deadline."""
    return min(now + OPTIN_VALID, spec.registration_deadline or spec.end, spec.end)


def request(
    session: Session,
    rt: Runtime,
    event_id: int,
    spec: EventSpec,
    person_id: int,
    data: RegistrationInput,
    language: str,
    now: datetime,
) -> Outcome:
    """A public request (the event is locked): it counts once the address owner confirms it; nothing about an
    existing person changes before."""
    expires_at = expiry(spec, now)
    registration_id = (
        session.connection()
        .execute(
            INSERT_REGISTRATION,
            {
                "event_id": event_id,
                "person_id": person_id,
                "status": "pending",
                "answers": data.answers,
                "source": "public",
                "token_nonce": new_nonce(),
                "pending": {"name": data.name, "organisation": data.organisation, "language": language},
                "expires_at": expires_at,
                "revision": 1,
                "created_at": now,
                "confirmed_at": None,
                "cancelled_at": None,
                "checked_in_at": None,
                "updated_at": utcnow(),
            },
        )
        .scalar_one()
    )
    registration = Ref(registration_id, status="pending", revision=1, expires_at=expires_at)
    emails.enqueue(
        session, rt, Ref(event_id), Ref(person_id, data.email), registration, now=now,
        recipient_name=data.name, language=language,
    )  # fmt: skip
    return Outcome(registration_id, person_id, "pending", True)


def confirm(rt: Runtime, slug: str, token: str, *, now: datetime | None = None) -> Outcome:
    """The address owner confirms a public request: it gets a place or a place on the waiting list."""
    now = now or datetime.now(UTC)
    with rt.store.session(write_lock=True) as session:
        event = locked_event(session, slug)
        _, registration = by_token(session, rt, slug, "confirm", token)
        spec = spec_of(rt, event)
        if registration.status != "pending":
            return outcome(session, rt, registration, created=False)  # a second click changes nothing
        if registration.expires_at is not None and now >= registration.expires_at:
            registration.status = "expired"
            return outcome(session, rt, registration, created=False)
        if is_closed(event, spec, now):
            raise RegistrationClosed(slug)
        person = registration.person
        details = registration.pending or {}
        person.name = details.get("name") or person.name
        person.organisation = details.get("organisation")
        person.language = details.get("language") or person.language
        registration.pending = None
        allocate(session, event, spec, registration, now)
        session.flush()
        # a public request's consents count once the address owner confirms it
        consents.record_registration(session, event, spec, person, registration.answers or {}, "confirmation", now=now)
        emails.enqueue(session, rt, event, person, registration, now=now)
        return outcome(session, rt, registration, created=True)


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


delivery.on_sweep(expire_pending)
