"""The emails of registration (opt-in, confirmed, waiting list, promoted, cancelled), put into the outbox.

They are made inside the transaction that changes the registration, so that both happen or neither.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from threading import Lock
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from eventkit import outbox
from eventkit.calendar import Invite
from eventkit.events import calendar_event, event_view, format_for, public_url
from eventkit.mail import Recipient, compose
from eventkit.registration_form import answers_summary, form_fields
from eventkit.runtime import Runtime
from eventkit.spec import EventSpec
from eventkit.store import Event, OutboxMessage, Person, Registration
from eventkit.tokens import signed_token

KINDS = (
    "registration-optin",
    "registration-confirmed",
    "registration-waitlisted",
    "registration-promoted",
    "registration-cancelled",
)

_invites: OrderedDict[tuple[Any, ...], Invite] = OrderedDict()
_invites_lock = Lock()


def _invite(event: Event, spec: EventSpec, rt: Runtime, method: str, language: str, now: datetime) -> Invite:
    """The event's calendar object, built once per version of the event, method and language."""
    key = (event.uid, event.sequence, event.updated_at, method, language, event.status)
    with _invites_lock:
        invite = _invites.get(key)
        if invite is not None:
            _invites.move_to_end(key)
            return invite
    invite = Invite(calendar_event(event, spec, rt.settings, language), method, dtstamp=now)
    with _invites_lock:
        _invites[key] = invite
        while len(_invites) > 64:
            _invites.popitem(last=False)
    return invite


def links(rt: Runtime, slug: str, registration: Registration | None) -> SimpleNamespace:
    base = rt.settings.base_url
    manage = confirm = None
    if registration is not None:
        secret, nonce = rt.settings.secret_key, registration.token_nonce
        manage = f"{base}/e/{slug}/manage?t={signed_token(secret, 'manage', registration.id, nonce)}"
        confirm = f"{base}/e/{slug}/confirm?t={signed_token(secret, 'confirm', registration.id, nonce)}"
    return SimpleNamespace(
        event=public_url(rt.settings, slug),
        register=f"{base}/e/{slug}/register",
        ics=f"{base}/e/{slug}/event.ics",
        manage=manage,
        confirm=confirm,
    )


def kind_for(registration: Registration, *, promoted: bool = False) -> str:
    if registration.status == "pending":
        return "registration-optin"
    if registration.status == "cancelled":
        return "registration-cancelled"
    if registration.status == "waitlisted":
        return "registration-waitlisted"
    return "registration-promoted" if promoted else "registration-confirmed"


def enqueue(
    session: Session,
    rt: Runtime,
    event: Event,
    spec: EventSpec,
    person: Person,
    registration: Registration,
    *,
    now: datetime,
    recipient_name: str | None = None,
    language: str | None = None,
    had_place: bool = False,
    promoted: bool = False,
) -> int | None:
    """The email that tells a person about the registration's current state; None when it exists already."""
    kind = kind_for(registration, promoted=promoted)
    key = f"{event.id}:{person.id}:{kind}:{registration.id}:{registration.revision}"
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)) is not None:
        return None
    language = language or person.language or spec.language
    fmt = format_for(rt.settings, spec.format)
    recipient = Recipient(recipient_name or person.name, person.email, person.organisation, language)
    from eventkit.registrations import waitlist_position  # the service module imports this one

    own = links(rt, spec.slug, registration)
    context = {
        "event": event_view(spec, fmt),
        "format": SimpleNamespace(
            name=fmt.name, title=fmt.title.get(language), description=fmt.description.get(language)
        ),
        "recipient": recipient,
        "links": SimpleNamespace(
            event=own.event,
            ics=own.ics,
            register=own.register,
            manage=own.manage if kind != "registration-optin" else None,
            confirm=own.confirm if kind == "registration-optin" else None,
        ),
        "registration": SimpleNamespace(
            status=registration.status,
            answers_summary=answers_summary(form_fields(fmt, spec), registration.answers or {}, language),
            position=waitlist_position(session, registration),
            calendar_attached=kind == "registration-cancelled" and had_place,
        ),
        "optin_expires": registration.expires_at.astimezone(spec.start.tzinfo) if registration.expires_at else None,
    }
    invite = None
    partstat = "NEEDS-ACTION"
    if kind in ("registration-confirmed", "registration-promoted"):
        invite, partstat = _invite(event, spec, rt, "REQUEST", language, now), "ACCEPTED"
    elif kind == "registration-cancelled" and had_place:
        invite, partstat = _invite(event, spec, rt, "CANCEL", language, now), "DECLINED"
    row = compose(
        settings=rt.settings,
        renderer=rt.renderer,
        format_name=fmt.name,
        template=kind,
        recipient=recipient,
        context=context,
        organiser=(spec.organiser.name, spec.organiser.email),
        invite=invite,
        idempotency_key=key,
        event_id=event.id,
        person_id=person.id,
        now=now,
        partstat=partstat,
    )
    return outbox.enqueue(session, [row])[0]
