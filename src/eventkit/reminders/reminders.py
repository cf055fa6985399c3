"""Reminders before an event: what registered people need on the day, a status note for the waiting list.

Like the registration emails they are written as unrendered outbox rows (one transaction for all of an
event's reminders) and rendered by the delivery that sends them, as a variant of those (registration.emails).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from eventkit.db.store import Event, OutboxMessage, Person, Registration
from eventkit.events.events import find_event
from eventkit.mail import outbox
from eventkit.mail.compose import message_id
from eventkit.mail.mime import ascii_address
from eventkit.model.formats import parse_duration
from eventkit.model.spec import EventSpec
from eventkit.registration import emails
from eventkit.runtime import Runtime

KINDS = ("reminder", "reminder-waitlisted")
# which reminder a registration of this status gets; pending, cancelled and expired ones get none
KIND_FOR_STATUS = {"registered": "reminder", "waitlisted": "reminder-waitlisted"}


def idempotency_key(event: Event, person_id: int, kind: str, reminder: str) -> str:
    # the event's SEQUENCE is part of it: after a reschedule the reminders go out again, with the new time
    return f"{event.id}:{person_id}:{kind}:{reminder}:{event.sequence}"


def obsolete(
    session: Session, event: Event, registration: Registration, row: OutboxMessage, now: datetime
) -> str | None:
    """Why a reminder put into the outbox earlier should no longer go out, if it should not."""
    if event.status == "cancelled":
        return "not sent: the event was cancelled after the reminder was scheduled"
    if registration.status not in KIND_FOR_STATUS:
        return f"not sent: the registration is {registration.status} now"
    if now >= EventSpec.from_data(event.spec).start:
        return "not sent: the event has begun"
    return None


def enqueue_reminders(rt: Runtime, slug: str, reminder: str, now: datetime | None = None) -> dict[str, int]:
    """Put reminder `reminder` (a duration label of format.yaml such as "7d") into the outbox, once per person.

    Returns how many of each kind were written and how many had been written before; `cancelled` or
    `started` is 1 when the event is cancelled or has begun, and then nothing is written.
    """
    if parse_duration(reminder) is None:
        raise ValueError(f"not a duration such as 7d or 1d: {reminder!r}")
    now = now or datetime.now(UTC)
    result = {"reminder": 0, "reminder-waitlisted": 0, "already": 0, "cancelled": 0, "started": 0}
    with rt.store.session(write_lock=True) as session:
        # the event row is locked, so that no registration changes its status while the reminders are written
        event = find_event(session, slug, lock=True)
        if event.status == "cancelled":
            result["cancelled"] = 1
            return result
        if now >= EventSpec.from_data(event.spec).start:
            result["started"] = 1
            return result
        candidates = session.execute(
            select(Registration.id, Registration.status, Person.id.label("person_id"), Person.email)
            .join(Person, Person.id == Registration.person_id)
            .where(Registration.event_id == event.id, Registration.status.in_(tuple(KIND_FOR_STATUS)))
            .order_by(Registration.id)
        ).all()
        keyed = {idempotency_key(event, c.person_id, KIND_FOR_STATUS[c.status], reminder): c for c in candidates}
        existing: set[str] = set()
        keys = list(keyed)
        for start in range(0, len(keys), 500):
            existing.update(
                session.scalars(
                    select(OutboxMessage.idempotency_key).where(
                        OutboxMessage.idempotency_key.in_(keys[start : start + 500])
                    )
                )
            )
        sender = ascii_address(rt.settings.mail_from)[0]
        rows: list[dict[str, Any]] = []
        for key, c in keyed.items():
            if key in existing:
                result["already"] += 1
                continue
            kind = KIND_FOR_STATUS[c.status]
            rows.append(
                {
                    "idempotency_key": key,
                    "event_id": event.id,
                    "person_id": c.person_id,
                    "registration_id": c.id,
                    "kind": kind,
                    "sender": sender,
                    "recipient": ascii_address(c.email)[0],
                    "message_id": message_id(rt.settings),
                    "subject": "",
                    "raw": None,
                    "params": {"reminder": reminder, "name": None, "language": None},
                    "smtputf8": False,
                }
            )
            result[kind] += 1
        outbox.enqueue(session, rows)
    return result


def _template(row: OutboxMessage, registration: Registration) -> str:
    # a waiting-list place may have become a place since the reminder was scheduled: say what is true now
    return KIND_FOR_STATUS[registration.status]


def email_context(session: Session, rt: Runtime, spec: EventSpec, row: OutboxMessage, now: datetime) -> dict[str, Any]:
    """What a reminder says about the time left: its offset in format.yaml, and the days until the start."""
    label = (row.params or {}).get("reminder")
    if label is None:
        return {"reminder": None}
    days_before = (spec.start.date() - now.astimezone(spec.start.tzinfo).date()).days
    offset = parse_duration(label) or timedelta(0)
    return {"reminder": SimpleNamespace(label=label, offset=offset, days_before=max(days_before, 0))}


emails.register(
    KINDS,
    emails.Variant(
        template=_template,
        obsolete=obsolete,
        context=email_context,
        waitlisted=frozenset({"reminder-waitlisted"}),
        with_calendar=frozenset({"reminder"}),
    ),
    owner=__name__,
)
