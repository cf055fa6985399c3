"""The one door for email: render a template, add the calendar invite, build the MIME, make an outbox row."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventkit.core.render import Renderer, translate
from eventkit.core.settings import Settings
from eventkit.mail.ical import Invite
from eventkit.mail.mime import CalendarPart, Message, ascii_address


@dataclass(frozen=True)
class Recipient:
    name: str
    email: str
    organisation: str | None = None
    language: str = "de"


def message_id(settings: Settings) -> str:
    domain = settings.mail_from.rsplit("@", 1)[-1]
    return f"<{secrets.token_hex(16)}@{domain}>"


def compose(
    *,
    settings: Settings,
    renderer: Renderer,
    format_name: str,
    template: str,
    recipient: Recipient,
    context: dict[str, Any],
    organiser: tuple[str, str],
    invite: Invite | None = None,
    idempotency_key: str,
    event_id: int | None,
    person_id: int | None,
    now: datetime | None = None,
    shared: dict[str, Any] | None = None,
    partstat: str = "NEEDS-ACTION",
    msg_id: str | None = None,
    extra_headers: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """A ready outbox row for one email to one person, in that person's language.

    `shared` is the render cache for the parts that are the same for everyone (one per event and language).
    """
    rendered = renderer.email(format_name, template, recipient.language, context, shared=shared)
    msg_id = msg_id or message_id(settings)
    calendar = None
    if invite is not None:
        if invite.method == "CANCEL":
            filename = translate(recipient.language, "cancellation") + ".ics"
        else:
            filename = translate(recipient.language, "invitation") + ".ics"
        calendar = CalendarPart(invite.for_attendee(recipient.name, recipient.email, partstat), invite.method, filename)
    sender_name, _ = organiser
    message = Message(
        sender=(sender_name, settings.mail_from),
        to=(recipient.name, recipient.email),
        reply_to=organiser,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=msg_id,
        date=now or datetime.now(UTC),
        language=recipient.language,
        calendar=calendar,
        extra_headers=extra_headers,
    )
    raw, utf8 = message.build()
    return {
        "idempotency_key": idempotency_key,
        "event_id": event_id,
        "person_id": person_id,
        "kind": template,
        "sender": ascii_address(settings.mail_from)[0],
        "recipient": ascii_address(recipient.email)[0],
        "message_id": msg_id,
        "subject": rendered.subject,
        "raw": raw,
        "smtputf8": utf8,
    }
