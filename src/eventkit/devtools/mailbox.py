"""The demo's email: the outbox delivered as the web app delivers it, and personal links read back from it."""

from __future__ import annotations

import asyncio
import email
import re

from sqlalchemy import select

import eventkit.features  # noqa: F401 - every feature registers its email kinds before the demo delivers
from eventkit.db.store import OutboxMessage, Person
from eventkit.events.events import load_event
from eventkit.mail import delivery
from eventkit.mail.transport import transport_for
from eventkit.runtime import Runtime


def deliver(rt: Runtime) -> int:
    """Send what waits in the outbox (the demo's relay is the mail folder); how many were sent."""
    return asyncio.run(delivery.deliver_pending(rt.store, transport_for(rt), rt=rt)).sent


def invitation_tokens(rt: Runtime, slug: str) -> dict[str, str]:
    """Each invitee's personal token, read back from the invitation emails (as the invitee's browser would)."""
    tokens = {}
    with rt.store.session() as session:
        event, _spec = load_event(session, slug)
        rows = session.execute(
            select(Person.email, OutboxMessage.raw)
            .join(Person, Person.id == OutboxMessage.person_id)
            .where(OutboxMessage.event_id == event.id, OutboxMessage.kind == "invitation")
        )
        for address, raw in rows:
            msg = email.message_from_bytes(raw or b"")
            for part in msg.walk():
                payload = part.get_payload(decode=True)
                if part.get_content_type() == "text/plain" and isinstance(payload, bytes):
                    match = re.search(r"/register\?t=([A-Za-z0-9_-]+)", payload.decode())
                    if match:
                        tokens[address] = match.group(1)
    return tokens
