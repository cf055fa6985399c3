"""Invitations: invitees stored for an event, one personal invitation email each, delivered in batches."""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.orm import Session

from eventkit.consent import consents
from eventkit.core.render import Renderer
from eventkit.core.settings import Settings
from eventkit.core.tokens import new_token, token_hash
from eventkit.db.store import Event, Invitation, OutboxMessage, Person, Store, utcnow
from eventkit.events.events import calendar_event, event_view, format_for, load_event, public_url
from eventkit.events.series_ref import holders, series_ref
from eventkit.mail import outbox
from eventkit.mail.compose import Recipient, compose
from eventkit.mail.delivery import send_recorded
from eventkit.mail.ical import Invite
from eventkit.mail.outbox import DeliveryReport, Outgoing
from eventkit.mail.transport import Transport
from eventkit.minutes.minutes import for_invitation
from eventkit.model.invitees import Invitee

KIND = "invitation"
CHUNK = 50  # messages held in memory at once while making or sending a batch
REVISION = 0  # an invitation is sent once; changes to the event go out as updates (their own kind)


class TransientDeliveryError(RuntimeError):
    """Some messages got a temporary refusal (4xx, lost connection): a retry of the batch sends just those."""


@dataclass(frozen=True)
class ImportSummary:
    people_created: int
    people_updated: int
    invited: int
    already_invited: int
    unsubscribed: int = 0  # skipped: they unsubscribed from invitations (eventkit.consent.consents)


def idempotency_key(event_id: int, person_id: int) -> str:
    return f"{event_id}:{person_id}:{KIND}:{REVISION}"


def registration_link(settings: Settings, slug: str, token: str) -> str:
    return f"{settings.base_url}/e/{slug}/register?t={token}"


def import_invitees(store: Store, slug: str, invitees: Sequence[Invitee], chunk: int = 1000) -> ImportSummary:
    """Store people (updating name, organisation, language) and invite them; all of it or nothing.

    Works through the list in chunks inside one transaction, so that 50,000 invitees need little memory.
    """
    created = updated = invited = already = skipped = 0
    with store.session() as session:
        event, spec = load_event(session, slug)
        invited_ids = set(session.scalars(select(Invitation.person_id).where(Invitation.event_id == event.id)))
        for start in range(0, len(invitees), chunk):
            part = invitees[start : start + chunk]
            emails = [i.email for i in part]
            people = {p.email: p for p in session.scalars(select(Person).where(Person.email.in_(emails)))}
            now = utcnow()
            new_rows = []
            for inv in part:
                existing = people.get(inv.email)
                language = inv.language or spec.language
                if existing is None:
                    new_rows.append(
                        {
                            "email": inv.email,
                            "name": inv.name,
                            "organisation": inv.organisation,
                            "language": language,
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
                elif (existing.name, existing.organisation, existing.language) != (
                    inv.name,
                    inv.organisation,
                    language,
                ):
                    existing.name, existing.organisation, existing.language = inv.name, inv.organisation, language
                    updated += 1
            if new_rows:
                session.execute(insert(Person), new_rows)
                created += len(new_rows)
            session.flush()
            ids = {
                email: pid
                for email, pid in session.execute(select(Person.email, Person.id).where(Person.email.in_(emails)))
            }
            rows = []
            unsubscribed = consents.unsubscribed_ids(session, ids.values())
            for email in emails:
                pid = ids[email]
                if pid in invited_ids:
                    already += 1
                elif pid in unsubscribed:
                    skipped += 1
                else:
                    rows.append({"event_id": event.id, "person_id": pid, "status": "invited", "created_at": now})
                    invited_ids.add(pid)
            if rows:
                session.execute(insert(Invitation), rows)
                invited += len(rows)
            session.expunge_all()  # what was imported is not needed in memory any more
    return ImportSummary(created, updated, invited, already, skipped)


# an invitation and its email in the outbox, if made
_ITS_EMAIL = and_(
    OutboxMessage.event_id == Invitation.event_id,
    OutboxMessage.person_id == Invitation.person_id,
    OutboxMessage.kind == KIND,
)


def _unclaimed(now: datetime, claimant: str | None = None, dead: Collection[str] = ()):  # type: ignore[no-untyped-def]
    """Emails still to send: not sent yet, or claimed by a delivery that died (an earlier attempt of this same
    run, a claimant in `dead`, or one whose lease ran out)."""
    return OutboxMessage.status.in_(outbox.SENDABLE) | outbox.taken_over(now, claimant, dead)


def _work_query(event_id: int, dead: Collection[str] = ()):  # type: ignore[no-untyped-def]
    """Invitations of the event whose email is not yet made, or made and not yet sent."""
    return (
        select(Invitation.id)
        .outerjoin(OutboxMessage, _ITS_EMAIL)
        .where(
            Invitation.event_id == event_id,
            (OutboxMessage.id.is_(None)) | _unclaimed(datetime.now(UTC), dead=dead),
        )
        .order_by(Invitation.id)
    )


def claimants(store: Store, slug: str) -> set[str]:
    """Who holds claims on the event's invitations now (a campaign sending them, or one that died)."""
    with store.session() as session:
        event, _ = load_event(session, slug)
        return outbox.claimants(session, event_id=event.id, kinds=(KIND,))


def plan_batches(store: Store, slug: str, batch_size: int, dead: Collection[str] = ()) -> list[tuple[int, int]]:
    """Ranges of invitation ids (first, last) with at most batch_size invitations still to make or send
    (those claimed by the dead claimants in `dead` among them)."""
    with store.session() as session:
        event, _ = load_event(session, slug)
        ids = list(session.scalars(_work_query(event.id, dead)))
    return [(ids[i], ids[min(i + batch_size, len(ids)) - 1]) for i in range(0, len(ids), batch_size)]


def prepare_batch(store: Store, settings: Settings, renderer: Renderer, slug: str, first: int, last: int) -> int:
    """Render and store the invitation emails of the batch that do not exist yet; returns how many."""
    with store.session() as session:
        event, spec = load_event(session, slug)
        fmt = format_for(settings, spec.format)
        rows = session.execute(
            select(Invitation, Person)
            .join(Person, Person.id == Invitation.person_id)
            .outerjoin(OutboxMessage, _ITS_EMAIL)
            .where(Invitation.event_id == event.id, Invitation.id.between(first, last), OutboxMessage.id.is_(None))
            .order_by(Invitation.id)
        ).all()
        if not rows:
            return 0
        view = event_view(spec, fmt)
        open_tasks = for_invitation(session, settings, spec)  # a series meeting lists the earlier ones' open tasks
        # a series' members hold the series in their calendars: theirs is this meeting's instance of it
        ref = series_ref(settings, spec)
        holding = holders(session, ref.slug, [p.id for _, p in rows]) if ref else set()
        invites: dict[tuple[str, bool], Invite] = {}
        formats: dict[str, SimpleNamespace] = {}
        shared: dict[str, dict[str, Any]] = {}
        now = datetime.now(UTC)
        messages: list[dict[str, Any]] = []
        hashes: list[dict[str, Any]] = []
        made = 0
        for invitation, person in rows:
            language = person.language
            held = person.id in holding
            if (language, held) not in invites:
                invites[language, held] = Invite(
                    calendar_event(event, spec, settings, language, ref if held else None), "REQUEST", dtstamp=now
                )
            if language not in formats:
                shared[language] = {}
                formats[language] = SimpleNamespace(
                    name=fmt.name, title=fmt.title.get(language), description=fmt.description.get(language)
                )
            token = new_token()
            hashes.append({"id": invitation.id, "token_hash": token_hash(settings.secret_key, "register", token)})
            recipient = Recipient(person.name, person.email, person.organisation, language)
            context = {
                "event": view,
                "format": formats[language],
                "recipient": recipient,
                "links": SimpleNamespace(
                    register=registration_link(settings, slug, token),
                    event=public_url(settings, slug),
                    unsubscribe=consents.unsubscribe_url(settings, person.id, person.email),
                ),
                "open_tasks": open_tasks,
            }
            messages.append(
                compose(
                    settings=settings,
                    renderer=renderer,
                    format_name=fmt.name,
                    template=KIND,
                    recipient=recipient,
                    context=context,
                    organiser=(spec.organiser.name, spec.organiser.email),
                    invite=invites[language, held],
                    idempotency_key=idempotency_key(event.id, person.id),
                    event_id=event.id,
                    person_id=person.id,
                    now=now,
                    shared=shared[language],
                    # RFC 8058 one-click unsubscribe from future invitations
                    extra_headers=consents.unsubscribe_headers(settings, person.id, person.email, spec.organiser.email),
                )
            )
            if len(messages) == CHUNK:
                made += _store(session, hashes, messages)
        made += _store(session, hashes, messages)
        return made


def _store(session: Session, hashes: list[dict[str, Any]], messages: list[dict[str, Any]]) -> int:
    """Write a chunk of the batch (inside the batch's transaction) and let go of it."""
    if hashes:
        session.execute(update(Invitation), hashes)
    count = len(outbox.enqueue(session, messages))
    hashes.clear()
    messages.clear()
    return count


def _batch_outbox_ids(
    session: Session, event: Event, first: int, last: int, claimant: str | None, dead: Collection[str]
) -> list[int]:
    return list(
        session.scalars(
            select(OutboxMessage.id)
            .join(
                Invitation,
                and_(Invitation.event_id == OutboxMessage.event_id, Invitation.person_id == OutboxMessage.person_id),
            )
            .where(
                OutboxMessage.event_id == event.id,
                OutboxMessage.kind == KIND,
                _unclaimed(datetime.now(UTC), claimant, dead),
                Invitation.id.between(first, last),
            )
            .order_by(OutboxMessage.id)
        )
    )


def _claim(store: Store, ids: Sequence[int], claimant: str | None, dead: Collection[str]) -> list[Outgoing]:
    """Take the rows among ids that no other delivery has (status `sending`, as eventkit.mail.delivery.claim does):
    two runs of the same campaign at once, on one worker or two, never send the same invitation twice."""
    now = datetime.now(UTC)
    with store.session(write_lock=True) as session:
        query = (
            select(OutboxMessage.id)
            .where(OutboxMessage.id.in_(ids), _unclaimed(now, claimant, dead))
            .order_by(OutboxMessage.id)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed = list(session.scalars(query))
        if not claimed:
            return []
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(claimed))
            .values(status="sending", updated_at=now, claimed_by=claimant)
        )
    with store.session() as session:
        return outbox.sendable(session, claimed, statuses=("sending",))


async def deliver_batch(
    store: Store,
    transport: Transport,
    slug: str,
    first: int,
    last: int,
    claimant: str | None = None,
    dead: Collection[str] = (),
    stop: threading.Event | None = None,
) -> dict[str, int]:
    """Send what the batch still has to send and record each recipient's outcome as the relay answers;
    returns the counts (sent, retry, failed), and the caller decides whether deferrals are retried.

    A chunk at a time: claimed (by `claimant`, the flow run), sent over one connection; so a chunk's claim
    is never older than its sending. A delivery that dies leaves at most one chunk claimed, and only its
    message in flight unrecorded: a retry of the same run takes the claim over at once, and so does any
    delivery once the claimant is known dead (`dead`), any other after outbox.CLAIM_LEASE; it sends what was
    not recorded as sent. When the relay cannot be reached at all, the rest of the batch is not tried: it
    waits for a retry with the reason (outbox.defer), for the next run or the delivery sweep. Once `stop` is
    set (the command was interrupted), nothing more is sent after the message in flight.
    """
    with store.session() as session:
        event, _ = load_event(session, slug)
        ids = _batch_outbox_ids(session, event, first, last, claimant, dead)

    counts = {"sent": 0, "retry": 0, "failed": 0}
    for start in range(0, len(ids), CHUNK):
        if stop is not None and stop.is_set():
            break
        chunk = _claim(store, ids[start : start + CHUNK], claimant, dead)
        if not chunk:
            continue  # sent meanwhile, or being sent by another run
        results = await send_recorded(store, transport, chunk, stop)
        for r in results:
            counts[r.status] += 1
        down = next((r.detail for r in results if outbox.is_unreachable(r.detail)), None)
        if down is not None and not any(r.status == "sent" for r in results):
            rest = ids[start + CHUNK :]
            with store.writing() as connection:
                counts["retry"] += outbox.defer(connection, rest, down)
            break
    return counts


def delivery_report(store: Store, slug: str) -> DeliveryReport:
    with store.session() as session:
        event, _ = load_event(session, slug)
        return outbox.report(session, event_id=event.id, kind=KIND)
