"""Minutes of a meeting: the decisions and tasks (who, what, until when, done?) kept in the event's folder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from types import SimpleNamespace

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from eventkit.core.files import event_dir, write_atomic
from eventkit.core.settings import Settings
from eventkit.db.store import Event
from eventkit.events.events import find_event
from eventkit.model.minutes import Minutes, load_minutes
from eventkit.model.spec import EventSpec
from eventkit.runtime import Runtime

MINUTES_FILE = "minutes.yaml"


@dataclass(frozen=True)
class OpenTask:
    who: str
    what: str
    due: date | None
    meeting: date  # the day of the meeting that gave the task
    meeting_slug: str


def minutes_path(settings: Settings, slug: str) -> Path:
    return event_dir(settings, slug) / MINUTES_FILE


def take_input(rt: Runtime, slug: str, path: Path) -> Minutes:
    """The organiser's minutes file: checked against an existing event, then kept in the event's folder."""
    minutes = load_minutes(path)
    with rt.store.session() as session:
        find_event(session, slug)
    return store_minutes(rt.settings, slug, minutes)


def store_minutes(settings: Settings, slug: str, minutes: Minutes) -> Minutes:
    text = yaml.safe_dump(minutes.to_data(), allow_unicode=True, sort_keys=False)
    write_atomic(minutes_path(settings, slug), text.encode("utf-8"))
    return minutes


def stored_minutes(settings: Settings, slug: str) -> Minutes | None:
    path = minutes_path(settings, slug)
    return load_minutes(path) if path.is_file() else None


def _open_tasks(session: Session, settings: Settings, series_slug: str, before: datetime) -> list[OpenTask]:
    events = session.scalars(
        select(Event).where(Event.slug.like(series_slug + "-%"), Event.starts_at < before).order_by(Event.starts_at)
    ).all()
    out = []
    for event in events:
        ref = (event.spec or {}).get("extra", {}).get("series")
        if not isinstance(ref, dict) or ref.get("slug") != series_slug:
            continue  # another series or event whose slug happens to start the same way
        minutes = stored_minutes(settings, event.slug)
        if minutes is None:
            continue
        day = event.starts_at.astimezone(EventSpec.from_data(event.spec).start.tzinfo).date()
        out += [OpenTask(t.who, t.what, t.due, day, event.slug) for t in minutes.tasks if not t.done]
    return out


def open_tasks(rt: Runtime, series_slug: str, before: date | datetime) -> list[OpenTask]:
    """Tasks from meetings of the series that started before `before` and are not done, oldest meeting first."""
    if not isinstance(before, datetime):
        before = datetime.combine(before, time(0), tzinfo=UTC)
    with rt.store.session() as session:
        return _open_tasks(session, rt.settings, series_slug, before)


def for_invitation(session: Session, settings: Settings, spec: EventSpec) -> list[SimpleNamespace]:
    """What a meeting's invitation lists as open tasks: those of the earlier meetings of its series (else none)."""
    ref = spec.extra.get("series")
    if not isinstance(ref, dict) or not ref.get("slug"):
        return []
    tasks = _open_tasks(session, settings, str(ref["slug"]), spec.start)
    return [SimpleNamespace(who=t.who, what=t.what, due=t.due, meeting=t.meeting) for t in tasks]
