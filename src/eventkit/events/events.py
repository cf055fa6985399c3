"""Events in the store: created or updated from a spec, found by slug, described for calendars and emails."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from eventkit.core.errors import N_, UserError
from eventkit.core.render import translate
from eventkit.core.settings import Settings
from eventkit.core.tokens import signed_token
from eventkit.db.store import Event, Invitation, Registration, Store
from eventkit.events.series_ref import SeriesRef
from eventkit.mail.ical import CalendarEvent
from eventkit.model.formats import Format, discover
from eventkit.model.slug import is_slug
from eventkit.model.spec import EventSpec

# a change to any of these moves or changes the calendar entry: SEQUENCE rises (RFC 5546 2.1.4)
SIGNIFICANT = ("start", "end", "timezone", "venue", "online_url", "title")


class EventNotFound(LookupError, UserError):
    """No event has this slug."""

    message = N_("There is no event with this address.")
    status = 404

    def __init__(self, slug: str):
        super().__init__(slug)
        self.slug = slug


class EventCancelled(ValueError, UserError):
    """A cancelled event cannot move: create a new event (a new slug) for the new date."""

    message = N_(
        "The event %(slug)s is cancelled, so its time or place cannot change any more. "
        "For a new date, create a new event with its own slug."
    )
    status = 409

    def __init__(self, slug: str):
        super().__init__(slug)
        self.slug = slug
        self.params = {"slug": slug}


def announced(session: Session, event: Event) -> bool:
    """Whether anyone has heard of the event yet (an invitation or a registration exists)."""
    return any(
        session.scalar(select(model.id).where(model.event_id == event.id).limit(1)) is not None
        for model in (Invitation, Registration)
    )


@dataclass(frozen=True)
class Saved:
    slug: str
    created: bool
    changed: tuple[str, ...]
    sequence: int
    previous: dict[str, Any] | None = None  # the stored spec before this update, when something significant changed


def save_event(store: Store, settings: Settings, spec: EventSpec) -> Saved:
    data = spec.to_data()
    with store.session() as session:
        event = session.scalar(select(Event).where(Event.slug == spec.slug))
        if event is None:
            event = Event(
                slug=spec.slug,
                uid=f"{spec.slug}@{settings.mail_from.rsplit('@', 1)[-1]}",
                sequence=0,
                status="scheduled",
            )
            _apply(event, spec, data)
            session.add(event)
            return Saved(spec.slug, True, (), 0)
        old = event.spec
        changed = tuple(k for k in SIGNIFICANT if old.get(k) != data.get(k))
        if changed and event.status == "cancelled":
            raise EventCancelled(spec.slug)
        if changed:
            event.sequence += 1
        _apply(event, spec, data)
        return Saved(spec.slug, False, changed, event.sequence, dict(old) if changed else None)


def _apply(event: Event, spec: EventSpec, data: dict[str, Any]) -> None:
    event.format = spec.format
    event.title = spec.title
    event.language = spec.language
    event.timezone = spec.timezone
    event.starts_at = spec.start
    event.ends_at = spec.end
    event.spec = data


def find_event(session: Session, slug: str, *, lock: bool = False) -> Event:
    """The event with this slug (row-locked with lock=True on PostgreSQL), else EventNotFound.

    A slug that cannot exist (a NUL byte, say, which PostgreSQL refuses to compare) is not looked up.
    """
    if not is_slug(slug):
        raise EventNotFound(str(slug)[:100])
    query = select(Event).where(Event.slug == slug)
    event = session.scalar(query.with_for_update() if lock else query)
    if event is None:
        raise EventNotFound(slug)
    return event


def load_event(session: Session, slug: str) -> tuple[Event, EventSpec]:
    event = find_event(session, slug)
    return event, EventSpec.from_data(event.spec)


def event_view(spec: EventSpec, fmt: Format) -> EventSpec:
    """The spec as templates see it: every key the format declares is present (None when not given)."""
    return dataclasses.replace(spec, extra={**dict.fromkeys(fmt.spec_fields), **spec.extra})


def format_for(settings: Settings, name: str) -> Format:
    return discover(settings.template_dir)[name]


def public_url(settings: Settings, slug: str) -> str:
    return f"{settings.base_url}/e/{slug}"


def links(settings: Settings, slug: str, registration: Registration | None) -> SimpleNamespace:
    """The links an email about the event carries: its page, the form, its calendar file, and with a
    registration that person's own links (to manage the registration, to confirm a request)."""
    base = settings.base_url
    manage = confirm = None
    if registration is not None:
        secret, nonce = settings.secret_key, registration.token_nonce
        manage = f"{base}/e/{slug}/manage?t={signed_token(secret, 'manage', registration.id, nonce)}"
        confirm = f"{base}/e/{slug}/confirm?t={signed_token(secret, 'confirm', registration.id, nonce)}"
    return SimpleNamespace(
        event=public_url(settings, slug),
        register=f"{base}/e/{slug}/register",
        ics=f"{base}/e/{slug}/event.ics",
        manage=manage,
        confirm=confirm,
    )


def calendar_event(
    event: Event, spec: EventSpec, settings: Settings, language: str, series: SeriesRef | None = None
) -> CalendarEvent:
    """The calendar's view of the event: public facts only, never a personal link.

    With `series` (for those whose calendar holds the series, see eventkit.events.series_ref): the meeting as its
    instance of the series, under the series' UID with its RECURRENCE-ID."""
    location_parts = []
    if spec.venue:
        location_parts = [spec.venue.name] + ([spec.venue.address] if spec.venue.address else [])
    elif spec.online_url:
        location_parts = [spec.online_url]
    lines = []
    if spec.agenda:
        lines.append(translate(language, "Agenda") + ":")
        for item in spec.agenda:
            lines.append(f"{item.start.strftime('%H:%M')} {item.title}")
        lines.append("")
    if spec.venue and spec.venue.accessibility:
        lines += [translate(language, "Accessibility") + ": " + spec.venue.accessibility, ""]
    if spec.online_url:
        lines += [translate(language, "Online") + ": " + spec.online_url, ""]
    lines.append(translate(language, "Details and registration") + ": " + public_url(settings, spec.slug))
    return CalendarEvent(
        uid=series.uid if series else event.uid,
        sequence=series.instance_sequence(event.sequence) if series else event.sequence,
        recurrence_id=series.recurrence_id if series else None,
        summary=spec.title,
        start=spec.start,
        end=spec.end,
        timezone=spec.timezone,
        organiser_name=spec.organiser.name,
        organiser_email=spec.organiser.email,
        location=", ".join(location_parts),
        description="\n".join(lines).strip(),
        url=public_url(settings, spec.slug),
        status="CANCELLED" if event.status == "cancelled" else "CONFIRMED",
        last_modified=event.updated_at,
    )
