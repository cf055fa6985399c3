"""A series' meetings as events: made ahead of time, changed or cancelled with the series."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from eventkit.db.store import Event
from eventkit.events.changes import NotCancellable, cancel_event
from eventkit.events.events import EventCancelled, save_event
from eventkit.invitations.invitations import import_invitees
from eventkit.model.series import Series, meeting_spec, occurrences
from eventkit.model.spec import EventSpec
from eventkit.runtime import Runtime
from eventkit.series.stored import load_stored


def _existing(rt: Runtime, slugs: list[str]) -> dict[str, Event]:
    if not slugs:
        return {}
    with rt.store.session() as session:
        events = session.scalars(select(Event).where(Event.slug.in_(slugs))).all()
        session.expunge_all()
        return {e.slug: e for e in events}


def create_meetings(rt: Runtime, slug: str, *, now: datetime | None = None, horizon: timedelta) -> list[str]:
    """Each meeting whose date comes within `horizon` becomes an event (members invited); returns the new ones.

    A meeting that exists already is left as it is: a second run creates nothing twice.
    """
    now = now or datetime.now(UTC)
    stored = load_stored(rt.settings, slug)
    due = occurrences(stored.series, after=now, before=now + horizon)
    existing = _existing(rt, [o.slug for o in due])
    created = []
    for occ in due:
        if occ.slug in existing:
            continue
        save_event(rt.store, rt.settings, meeting_spec(stored.series, occ))
        if stored.series.members:
            import_invitees(rt.store, occ.slug, list(stored.series.members))
        created.append(occ.slug)
    return created


def meetings_in_range(rt: Runtime, slug: str, *, now: datetime | None = None, horizon: timedelta) -> list[str]:
    """The meetings (as events) within the horizon whose lifecycle has not been run yet."""
    now = now or datetime.now(UTC)
    stored = load_stored(rt.settings, slug)
    due = [o.slug for o in occurrences(stored.series, after=now, before=now + horizon)]
    existing = _existing(rt, due)
    return [s for s in due if s in existing and s not in stored.planned]


def meeting_sequences(rt: Runtime, series: Series) -> dict[date, int]:
    """Per rule date, the SEQUENCE of the meeting as an event, for those that are events already."""
    every = occurrences(series, include_skipped=True)
    existing = _existing(rt, [o.slug for o in every])
    return {o.recurrence_id.date(): existing[o.slug].sequence for o in every if o.slug in existing}


@dataclass(frozen=True)
class MeetingChange:
    slug: str
    action: str  # "updated" (time or place changed), "cancelled", "cancelled-before" (cannot come back)
    previous: dict[str, Any] | None = None


def _merged(current: EventSpec, was: EventSpec | None, now: EventSpec) -> EventSpec:
    """The meeting as the new series makes it, keeping what the organiser changed in this meeting alone.

    A field (or a key of the format's own fields) that the series' change left as it was keeps the meeting's
    value, e.g. an agenda or a note edited for this one meeting; a field the change touched takes the
    series' new value. Without the earlier version of the series, the series' version is taken whole.
    """
    if was is None:
        return now
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(now):
        old, new = getattr(was, f.name), getattr(now, f.name)
        if f.name == "extra":
            extra = dict(current.extra)
            for key in set(old) | set(new):
                if old.get(key) != new.get(key):
                    if key in new:
                        extra[key] = new[key]
                    else:
                        extra.pop(key, None)
            changes["extra"] = extra
        elif old != new:
            changes[f.name] = new
    return dataclasses.replace(current, **changes)


def apply_to_meetings(
    rt: Runtime, slug: str, *, now: datetime | None = None, before: Series | None = None
) -> list[MeetingChange]:
    """Carry the stored series over to the meetings that exist and have not ended: moved ones move, skipped
    ones are cancelled. Their registrants are told by the event-changed flow (the caller runs it).

    With `before`, the version of the series the change replaced, only what the change touched reaches a
    meeting: what the organiser changed in one meeting alone (`eventkit event update`) stays."""
    now = now or datetime.now(UTC)
    stored = load_stored(rt.settings, slug)
    every = occurrences(stored.series, include_skipped=True)
    earlier = {o.recurrence_id.date(): o for o in occurrences(before, include_skipped=True)} if before else {}
    existing = _existing(rt, [o.slug for o in every])
    out = []
    for occ in every:
        event = existing.get(occ.slug)
        if event is None or event.ends_at <= now:
            continue
        if occ.skipped:
            if event.status == "cancelled":
                continue
            try:
                cancel_event(rt, occ.slug, None, now)
            except NotCancellable:
                continue
            out.append(MeetingChange(occ.slug, "cancelled"))
            continue
        wanted = meeting_spec(stored.series, occ)
        if before is not None:
            old = earlier.get(occ.recurrence_id.date())
            was = meeting_spec(before, old) if old is not None and not old.skipped else None
            wanted = _merged(EventSpec.from_data(event.spec), was, wanted)
        try:
            saved = save_event(rt.store, rt.settings, wanted)
        except EventCancelled:
            out.append(MeetingChange(occ.slug, "cancelled-before"))
            continue
        if saved.changed:
            out.append(MeetingChange(occ.slug, "updated", saved.previous))
    return out
