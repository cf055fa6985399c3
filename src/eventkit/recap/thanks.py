"""The thank-you email to every attendee, with the recap attached or a personal link to it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from eventkit.core.i18n import LANGUAGES
from eventkit.core.tokens import signed_token, token_subject, verify_signed
from eventkit.db.store import Event, OutboxMessage, Registration
from eventkit.events.events import EventNotFound, event_view, find_event, format_for
from eventkit.mail import outbox
from eventkit.mail.compose import Recipient, message_id
from eventkit.mail.mime import Attachment, Message, ascii_address
from eventkit.recap.document import recap_path
from eventkit.recap.participants import participants
from eventkit.runtime import Runtime

THANKS_KIND = "recap-thanks"
# a recap up to this size goes with the email; a larger one is a personal link to the web app
ATTACH_MAX_BYTES = 2 * 1024 * 1024


def document_link(rt: Runtime, slug: str, registration_id: int, nonce: str) -> str:
    """The personal link to the recap on the web app (for a recap too large to attach)."""
    token = signed_token(rt.settings.secret_key, "recap", registration_id, nonce)
    return f"{rt.settings.base_url}/e/{slug}/recap.pdf?t={token}"


def document_for_token(rt: Runtime, slug: str, token: str) -> Path | None:
    """The recap PDF for a valid personal recap link of someone who attended; None for any other link."""
    subject = token_subject(token or "")
    if subject is None:
        return None
    with rt.store.session() as session:
        try:
            event = find_event(session, slug)
        except EventNotFound:
            return None
        registration = session.get(Registration, subject)
        if (
            registration is None
            or registration.event_id != event.id
            or registration.status != "registered"
            or registration.checked_in_at is None
            or not verify_signed(rt.settings.secret_key, "recap", token, registration.id, registration.token_nonce)
        ):
            return None
    path = recap_path(rt.settings, slug)
    return path if path.is_file() else None


def thanks_key(event: Event, person_id: int) -> str:
    # once per person and event: a corrected recap does not send everyone a second email
    return f"{event.id}:{person_id}:{THANKS_KIND}"


def enqueue_thanks(
    rt: Runtime,
    slug: str,
    *,
    pdf: Path | None = None,
    attach_max: int = ATTACH_MAX_BYTES,
    now: datetime | None = None,
    batch: int = 50,
) -> dict[str, int]:
    """Put a thank-you email into the outbox for every attendee (a place and checked in), once per person:
    the recap attached when it is at most `attach_max` bytes, else a personal link to it."""
    now = now or datetime.now(UTC)
    pdf = pdf or recap_path(rt.settings, slug)
    if not pdf.is_file():
        raise LookupError(f"no recap PDF for {slug} yet: render it first")
    data = pdf.read_bytes()
    attach = len(data) <= attach_max
    event, spec, people = participants(rt, slug)
    fmt = format_for(rt.settings, spec.format)
    attendees = [p for p in people if p.checked_in_at is not None]
    result = {"thanks": 0, "already": 0, "attached": int(attach), "not_attended": len(people) - len(attendees)}
    keys = {thanks_key(event, p.person_id): p for p in attendees}
    with rt.store.session() as session:
        existing = set(
            session.scalars(select(OutboxMessage.idempotency_key).where(OutboxMessage.idempotency_key.in_(list(keys))))
        )
    todo = [(k, p) for k, p in keys.items() if k not in existing]
    result["already"] = len(keys) - len(todo)
    sender = ascii_address(rt.settings.mail_from)[0]
    shared: dict[str, dict[str, Any]] = {}
    filename = f"{_filename_word(spec.language)}-{slug}.pdf"
    for start in range(0, len(todo), batch):
        rows = []
        for key, p in todo[start : start + batch]:
            language = p.language if p.language in LANGUAGES else spec.language
            recipient = Recipient(p.name, p.email, p.organisation or None, language)
            context = {
                "event": event_view(spec, fmt),
                "format": SimpleNamespace(name=fmt.name, title=fmt.title.get(language)),
                "recipient": recipient,
                "recap": SimpleNamespace(
                    attached=attach,
                    link=None if attach else document_link(rt, slug, p.registration_id, p.token_nonce),
                    filename=filename,
                ),
            }
            rendered = rt.renderer.email(
                fmt.name, THANKS_KIND, language, context, shared=shared.setdefault(language, {})
            )
            msg_id = message_id(rt.settings)
            raw, utf8 = Message(
                sender=(spec.organiser.name, rt.settings.mail_from),
                to=(p.name, p.email),
                reply_to=(spec.organiser.name, spec.organiser.email),
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                message_id=msg_id,
                date=now,
                language=language,
                attachments=(Attachment(data, "application/pdf", filename),) if attach else (),
            ).build()
            rows.append(
                {
                    "idempotency_key": key,
                    "event_id": event.id,
                    "person_id": p.person_id,
                    "registration_id": p.registration_id,
                    "kind": THANKS_KIND,
                    "sender": sender,
                    "recipient": ascii_address(p.email)[0],
                    "message_id": msg_id,
                    "subject": rendered.subject,
                    "raw": raw,
                    "smtputf8": utf8,
                    "params": {"attached": attach},
                }
            )
        with rt.store.session() as session:
            outbox.enqueue(session, rows)
        result["thanks"] += len(rows)
    return result


def _filename_word(language: str) -> str:
    return "Bericht" if language == "de" else "recap"
