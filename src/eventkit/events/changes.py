"""Changes to an event after the invitations: an update that moves everyone's calendar entry, or the cancellation.

Who hears of a change: everyone invited (unless they cancelled or let their registration lapse) and everyone
with an active registration. Who gets a calendar object with it: those who have the event in their calendar,
that is everyone invited (the invitation carried the entry) and everyone registered (the confirmation did);
a person on the waiting list or with an unconfirmed request who came through the public page has no entry,
and gets the text alone. The calendar object carries the event's UID and its new SEQUENCE (RFC 5546 3.2.2
REQUEST for an update, 3.2.5 CANCEL for the cancellation).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from eventkit.db.store import Event, Invitation, OutboxMessage, Person, Registration
from eventkit.events.events import calendar_event, event_view, find_event, format_for, links
from eventkit.events.series_ref import holders, series_ref
from eventkit.mail import outbox
from eventkit.mail.compose import Recipient, compose
from eventkit.mail.ical import Invite
from eventkit.model.registration_form import answers_summary, form_fields
from eventkit.model.spec import EventSpec
from eventkit.runtime import Runtime

UPDATED = "event-updated"
CANCELLED = "event-cancelled"
KINDS = (UPDATED, CANCELLED)
# registrations whose people hear of a change; cancelled and expired ones said no, or never said yes
ACTIVE = ("registered", "waitlisted", "pending")
# what a change email says moved; the rest of the spec can change without telling anyone
SHOWN = ("start", "end", "venue", "online_url", "title")


class NotCancellable(ValueError):
    """The event is cancelled already, or over."""


@dataclass(frozen=True)
class Audience:
    person: Person
    registration: Registration | None
    invited: bool

    @property
    def has_entry(self) -> bool:
        """Whether the event is in this person's calendar (an invitation or a confirmed place put it there)."""
        return self.invited or (self.registration is not None and self.registration.status == "registered")


def idempotency_key(event: Event, person_id: int, kind: str) -> str:
    # one email per version of the event: a rerun of the same change sends nothing twice, the next one sends again
    return f"{event.id}:{person_id}:{kind}:{event.sequence}"


def previous_of(data: dict[str, Any]) -> dict[str, Any]:
    """What a change email shows of the event as it was (the spec's stored form, JSON-safe)."""
    return {key: data.get(key) for key in SHOWN + ("timezone",)}


def cancel_event(rt: Runtime, slug: str, reason: str | None = None, now: datetime | None = None) -> int:
    """Mark the event cancelled (SEQUENCE + 1); returns the new sequence. Registration closes with it."""
    now = now or datetime.now(UTC)
    with rt.store.session(write_lock=True) as session:
        event = find_event(session, slug, lock=True)
        if event.status == "cancelled":
            raise NotCancellable("cancelled")
        if now >= event.ends_at:
            raise NotCancellable("over")
        event.status = "cancelled"
        event.sequence += 1
        spec = dict(event.spec)
        if reason:
            spec["cancellation_reason"] = reason
        event.spec = spec
        return event.sequence


def audience(session: Any, event: Event) -> list[Audience]:
    invited = set(session.scalars(select(Invitation.person_id).where(Invitation.event_id == event.id)))
    registrations = {
        r.person_id: r for r in session.scalars(select(Registration).where(Registration.event_id == event.id))
    }
    ids = invited | {pid for pid, r in registrations.items() if r.status in ACTIVE}
    people = session.scalars(select(Person).where(Person.id.in_(ids)).order_by(Person.id)) if ids else []
    result = []
    for person in people:
        registration = registrations.get(person.id)
        if registration is not None and registration.status not in ACTIVE:
            continue  # invited, then cancelled or let the request lapse: they are out
        result.append(Audience(person, registration, person.id in invited))
    return result


def enqueue_change(
    rt: Runtime, slug: str, previous: dict[str, Any] | None = None, now: datetime | None = None
) -> dict[str, int]:
    """Write the update (or, for a cancelled event, the cancellation) for everyone concerned, once per version.

    `previous` is the event as it was (previous_of), for the email to say what changed. Returns how many
    emails were written, how many with a calendar object, and how many existed from an earlier run.
    """
    now = now or datetime.now(UTC)
    settings = rt.settings
    with rt.store.session() as session:
        event = find_event(session, slug)
        spec = EventSpec.from_data(event.spec)
        kind = CANCELLED if event.status == "cancelled" else UPDATED
        people = audience(session, event)
        keys = {idempotency_key(event, a.person.id, kind) for a in people}
        existing = set(
            session.scalars(select(OutboxMessage.idempotency_key).where(OutboxMessage.idempotency_key.in_(keys)))
        )
        fmt = format_for(settings, spec.format)
        fields = form_fields(fmt, spec)
        view = event_view(spec, fmt)
        before = _before(previous, spec) if previous else None
        method = "CANCEL" if kind == CANCELLED else "REQUEST"
        # a series' members hold the series in their calendars: theirs is this meeting's instance of it
        ref = series_ref(settings, spec)
        holding = holders(session, ref.slug, [a.person.id for a in people]) if ref else set()
        invites: dict[tuple[str, bool], Invite] = {}
        shared: dict[str, dict[str, Any]] = {}
        rows: list[dict[str, Any]] = []
        result = {"emails": 0, "with_calendar": 0, "already": len(existing)}
        for who in people:
            key = idempotency_key(event, who.person.id, kind)
            if key in existing:
                continue
            person, registration = who.person, who.registration
            language = person.language or spec.language
            held = person.id in holding
            if (language, held) not in invites:
                invites[language, held] = Invite(
                    calendar_event(event, spec, settings, language, ref if held else None), method, dtstamp=now
                )
            own = links(settings, spec.slug, registration)
            recipient = Recipient(person.name, person.email, person.organisation, language)
            registered = registration is not None and registration.status == "registered"
            context = {
                "event": view,
                "format": SimpleNamespace(
                    name=fmt.name, title=fmt.title.get(language), description=fmt.description.get(language)
                ),
                "recipient": recipient,
                "links": SimpleNamespace(
                    event=own.event,
                    ics=own.ics,
                    register=own.register,
                    manage=own.manage if registration is not None and kind == UPDATED else None,
                    confirm=None,
                ),
                "registration": SimpleNamespace(
                    status=registration.status if registration is not None else "invited",
                    answers_summary=answers_summary(fields, registration.answers or {}, language)
                    if registration is not None and registered and kind == UPDATED
                    else [],
                    position=None,
                    calendar_attached=who.has_entry,
                ),
                "change": SimpleNamespace(
                    before=before,
                    changed=[k for k in SHOWN if before is not None and getattr(before, k) != getattr(view, k)],
                    reason=event.spec.get("cancellation_reason"),
                ),
                "optin_expires": None,
                "reminder": None,
            }
            row = compose(
                settings=settings,
                renderer=rt.renderer,
                format_name=fmt.name,
                template=kind,
                recipient=recipient,
                context=context,
                organiser=(spec.organiser.name, spec.organiser.email),
                invite=invites[language, held] if who.has_entry else None,
                idempotency_key=key,
                event_id=event.id,
                person_id=person.id,
                now=now,
                shared=shared.setdefault(language, {}),
                partstat="ACCEPTED" if registered else "NEEDS-ACTION",
            )
            rows.append({**row, "registration_id": registration.id if registration is not None else None})
            result["emails"] += 1
            result["with_calendar"] += int(who.has_entry)
        sequence = event.sequence
    with rt.store.session(write_lock=True) as session:
        # another run of the same change may have written some meanwhile: the unique key would refuse them
        taken = set(
            session.scalars(
                select(OutboxMessage.idempotency_key).where(
                    OutboxMessage.idempotency_key.in_([r["idempotency_key"] for r in rows])
                )
            )
        )
        outbox.enqueue(session, [r for r in rows if r["idempotency_key"] not in taken])
        result["already"] += len(taken)
        result["emails"] -= len(taken)
    result["sequence"] = sequence
    return result


def _before(previous: dict[str, Any], spec: EventSpec) -> SimpleNamespace:
    """The event as it was, in the shape templates see (times in the event's zone as it was)."""
    data = {**spec.to_data(), **{k: v for k, v in previous.items() if k in SHOWN + ("timezone",)}}
    old = EventSpec.from_data(data)
    return SimpleNamespace(
        start=old.start, end=old.end, venue=old.venue, online_url=old.online_url, title=old.title, days=old.days
    )
