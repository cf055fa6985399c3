"""The emails of registration (opt-in, confirmed, waiting list, promoted, cancelled): outbox rows, and their rendering.

They are written inside the transaction that changes the registration, so that both happen or neither, and
rendered by the delivery that sends them (eventkit.mail.kinds). Reminders and the survey's emails are about a
registration too and are rendered the same way: their features register a Variant of these emails here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from threading import Lock
from types import SimpleNamespace
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from eventkit.db.store import Event, OutboxMessage, Person, Registration
from eventkit.events.events import calendar_event, event_view, format_for, links
from eventkit.events.series_ref import SeriesRef, holders, series_ref
from eventkit.mail import kinds, outbox
from eventkit.mail.compose import Recipient, compose, message_id
from eventkit.mail.ical import Invite
from eventkit.mail.mime import ascii_address
from eventkit.model.registration_form import answers_summary, form_fields
from eventkit.model.spec import EventSpec
from eventkit.registration import waitlist
from eventkit.runtime import Runtime, Slot

KINDS = (
    "registration-optin",
    "registration-confirmed",
    "registration-waitlisted",
    "registration-promoted",
    "registration-cancelled",
)


def _own_kind(row: OutboxMessage, registration: Registration) -> str:
    return row.kind


def _never(session: Session, event: Event, registration: Registration, row: OutboxMessage, now: datetime) -> None:
    return None


def _nothing(session: Session, rt: Runtime, spec: EventSpec, row: OutboxMessage, now: datetime) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Variant:
    """How the emails of some kinds differ from the registration emails they are rendered like."""

    # the template a row is rendered with now (a reminder follows the registration's status at sending)
    template: Callable[[OutboxMessage, Registration], str] = _own_kind
    # why a row written earlier should not go out any more (None: it should)
    obsolete: Callable[[Session, Event, Registration, OutboxMessage, datetime], str | None] = _never
    # what the template shows besides the event, the recipient, the links and the registration
    context: Callable[[Session, Runtime, EventSpec, OutboxMessage, datetime], dict[str, Any]] = _nothing
    # the templates that show the place on the waiting list, and those that carry the event's calendar entry
    waitlisted: frozenset[str] = frozenset()
    with_calendar: frozenset[str] = frozenset()


REGISTRATION = Variant(
    waitlisted=frozenset({"registration-waitlisted"}),
    with_calendar=frozenset({"registration-confirmed", "registration-promoted"}),
)
_variants: dict[str, Variant] = {}


def register(names: Iterable[str], variant: Variant, *, owner: str) -> None:
    """Render the outbox rows of these kinds like the registration emails, as `variant` says."""
    names = tuple(names)
    kinds.register(names, render, owner=owner)
    _variants.update(dict.fromkeys(names, variant))


class _Invites:
    """The calendar objects a runtime made last (at most 64), behind a lock: deliveries run in several threads."""

    def __init__(self) -> None:
        self.lock = Lock()
        self.recent: OrderedDict[tuple[Any, ...], Invite] = OrderedDict()


_INVITES: Slot[_Invites] = Slot("calendar objects", lambda rt: _Invites())


def _invite(
    event: Event,
    spec: EventSpec,
    rt: Runtime,
    method: str,
    language: str,
    now: datetime,
    series: SeriesRef | None = None,
) -> Invite:
    """The event's calendar object, built once per version of the event, method and language (and, for those
    whose calendar holds the event's series, once more as its instance of the series)."""
    held = (series.uid, series.sequence, series.recurrence_id) if series else None
    key = (event.uid, event.sequence, event.updated_at, method, language, event.status, held)
    invites = rt.local(_INVITES)
    with invites.lock:
        invite = invites.recent.get(key)
        if invite is not None:
            invites.recent.move_to_end(key)
            return invite
    invite = Invite(calendar_event(event, spec, rt.settings, language, series), method, dtstamp=now)
    with invites.lock:
        invites.recent[key] = invite
        while len(invites.recent) > 64:
            invites.recent.popitem(last=False)
    return invite


class Addressee(Protocol):
    """What the email of a registration needs of its event, person and registration (ORM rows, or the
    registration service's plain rows)."""

    @property
    def id(self) -> int: ...


class PersonLike(Addressee, Protocol):
    @property
    def email(self) -> str: ...


class RegistrationLike(Addressee, Protocol):
    @property
    def status(self) -> str: ...
    @property
    def revision(self) -> int: ...
    @property
    def expires_at(self) -> datetime | None: ...


def kind_for(registration: RegistrationLike, *, promoted: bool = False) -> str:
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
    event: Addressee,
    person: PersonLike,
    registration: RegistrationLike,
    *,
    now: datetime,
    recipient_name: str | None = None,
    language: str | None = None,
    had_place: bool = False,
    promoted: bool = False,
) -> int:
    """Write the email that tells a person about the registration's new state, as an outbox row.

    Only what identifies it is written here, inside the registration's short transaction; the delivery
    that sends it renders it first (eventkit.mail.kinds.render_pending). Its Message-ID is fixed now.
    """
    row = outbox_row(
        rt,
        event,
        person,
        registration,
        recipient_name=recipient_name,
        language=language,
        had_place=had_place,
        promoted=promoted,
    )
    return outbox.enqueue(session, [row])[0]


def outbox_row(
    rt: Runtime,
    event: Addressee,
    person: PersonLike,
    registration: RegistrationLike,
    *,
    recipient_name: str | None = None,
    language: str | None = None,
    had_place: bool = False,
    promoted: bool = False,
) -> dict[str, Any]:
    """The outbox row of enqueue (for outbox.enqueue, which writes several in one statement)."""
    kind = kind_for(registration, promoted=promoted)
    key = f"{event.id}:{person.id}:{kind}:{registration.id}:{registration.revision}"
    params = {
        "status": registration.status,
        "had_place": had_place,
        "name": recipient_name,
        "language": language,
        "expires_at": registration.expires_at.isoformat() if registration.expires_at else None,
    }
    return {
        "idempotency_key": key,
        "event_id": event.id,
        "person_id": person.id,
        "registration_id": registration.id,
        "kind": kind,
        "sender": ascii_address(rt.settings.mail_from)[0],
        "recipient": ascii_address(person.email)[0],
        "message_id": message_id(rt.settings),
        "subject": "",
        "raw": None,
        "params": params,
        "smtputf8": False,
    }


def render(session: Session, rt: Runtime, rows: Sequence[OutboxMessage], now: datetime) -> None:
    """Render a delivery batch's unrendered rows of the registered kinds (eventkit.mail.kinds.Render)."""
    # the batch's registrations and people in two queries, not two per email
    registrations_by_id = {
        r.id: r
        for r in session.scalars(
            select(Registration).where(Registration.id.in_({r.registration_id for r in rows if r.registration_id}))
        )
    }
    people = {
        p.id: p
        for p in session.scalars(select(Person).where(Person.id.in_({r.person_id for r in rows if r.person_id})))
    }
    specs: dict[int, tuple[Event, EventSpec]] = {}
    series: dict[int, SeriesRef | None] = {}  # per event: its place in a series, if it is a meeting of one
    holding: dict[int, set[int]] = {}  # per event: the people whose calendars hold its series
    # the parts of an email that are the same for everyone ({% shared %}), rendered once per batch
    shared: dict[tuple[int, str, str], dict[str, Any]] = {}
    positions: dict[int, dict[int, int]] = {}  # per event: the waiting list's places, one query per batch
    for row in rows:
        registration = registrations_by_id.get(row.registration_id) if row.registration_id else None
        person = people.get(row.person_id) if row.person_id else None
        if registration is None or person is None or row.event_id is None:
            row.status, row.last_error = "failed", "the registration of this email no longer exists"
            continue
        if row.event_id not in specs:
            event = session.get(Event, row.event_id)
            assert event is not None
            specs[row.event_id] = (event, EventSpec.from_data(event.spec))
            ref = series[row.event_id] = series_ref(rt.settings, specs[row.event_id][1])
            batch = {r.person_id for r in rows if r.event_id == row.event_id and r.person_id}
            holding[row.event_id] = holders(session, ref.slug, batch) if ref else set()
        event, spec = specs[row.event_id]
        in_series = series[event.id] if person.id in holding[event.id] else None
        variant = _variants[row.kind]
        reason = variant.obsolete(session, event, registration, row, now)
        if reason is not None:
            row.status, row.last_error = "failed", reason
            continue
        language = (row.params or {}).get("language") or person.language or spec.language
        cache = shared.setdefault((event.id, language, row.kind), {})
        if registration.status == "waitlisted" and event.id not in positions:
            positions[event.id] = waitlist.positions(session, event.id)
        built = _build(
            session, rt, event, spec, person, registration, row, now, cache, in_series, positions.get(event.id)
        )
        row.raw, row.subject, row.smtputf8 = built["raw"], built["subject"], built["smtputf8"]


def _build(
    session: Session,
    rt: Runtime,
    event: Event,
    spec: EventSpec,
    person: Person,
    registration: Registration,
    row: OutboxMessage,
    now: datetime,
    shared: dict[str, Any] | None = None,
    series: SeriesRef | None = None,
    positions: dict[int, int] | None = None,
) -> dict[str, Any]:
    params = row.params or {}
    variant = _variants[row.kind]
    kind = variant.template(row, registration)
    language = params.get("language") or person.language or spec.language
    fmt = format_for(rt.settings, spec.format)
    recipient = Recipient(params.get("name") or person.name, person.email, person.organisation, language)
    status = params.get("status") or registration.status
    own = links(rt.settings, spec.slug, registration)
    expires = params.get("expires_at")
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
            status=status,
            answers_summary=answers_summary(form_fields(fmt, spec), registration.answers or {}, language)
            if kind != "registration-optin"
            else [],
            position=(
                positions.get(registration.id) if positions is not None else waitlist.position(session, registration)
            )
            if kind in variant.waitlisted
            else None,
            calendar_attached=kind == "registration-cancelled" and bool(params.get("had_place")),
        ),
        "optin_expires": datetime.fromisoformat(expires).astimezone(spec.start.tzinfo) if expires else None,
        **variant.context(session, rt, spec, row, now),
    }
    invite = None
    partstat = "NEEDS-ACTION"
    if kind in variant.with_calendar:
        invite, partstat = _invite(event, spec, rt, "REQUEST", language, now, series), "ACCEPTED"
    elif kind == "registration-cancelled" and params.get("had_place"):
        invite, partstat = _invite(event, spec, rt, "CANCEL", language, now, series), "DECLINED"
    return compose(
        settings=rt.settings,
        renderer=rt.renderer,
        format_name=fmt.name,
        template=kind,
        recipient=recipient,
        context=context,
        organiser=(spec.organiser.name, spec.organiser.email),
        invite=invite,
        idempotency_key=row.idempotency_key,
        event_id=event.id,
        person_id=person.id,
        now=now,
        partstat=partstat,
        msg_id=row.message_id,
        shared=shared,
    )


register(KINDS, REGISTRATION, owner=__name__)
