"""Minutes of a meeting: the decisions and tasks (who, what, until when, done?) kept in the event's folder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from eventkit.core.settings import Settings
from eventkit.core.validation import N_, Problems, clean_line, has_control, read_text_file
from eventkit.core.yamlfile import parse_yaml
from eventkit.db.store import Event
from eventkit.documents.pdf import write_atomic
from eventkit.events.events import find_event
from eventkit.model.spec import EventSpec
from eventkit.recap.recap import event_dir
from eventkit.runtime import Runtime

MINUTES_FILE = "minutes.yaml"
MAX_TEXT = 2000
MAX_LINE = 300


@dataclass(frozen=True)
class Task:
    who: str
    what: str
    due: date | None = None
    done: bool = False


@dataclass(frozen=True)
class Minutes:
    decisions: tuple[str, ...] = ()
    tasks: tuple[Task, ...] = ()

    def to_data(self) -> dict[str, Any]:
        return {
            "decisions": list(self.decisions),
            "tasks": [
                {"who": t.who, "what": t.what, "due": t.due.isoformat() if t.due else None, "done": t.done}
                for t in self.tasks
            ],
        }


@dataclass(frozen=True)
class OpenTask:
    who: str
    what: str
    due: date | None
    meeting: date  # the day of the meeting that gave the task
    meeting_slug: str


def _text(value: Any, path: tuple[Any, ...], problems: Problems, *, max_len: int, one_line: bool) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.add(path, N_("is required"))
        return None
    if not isinstance(value, str):
        problems.add(path, N_("must be a text"))
        return None
    if one_line and has_control(value):
        problems.add(path, N_("must be a single line without control characters"))
        return None
    value = clean_line(value) if one_line else str(value).strip()
    if len(value) > max_len:
        problems.add(path, N_("is too long (%(length)s characters, at most %(max)s)"), length=len(value), max=max_len)
        return None
    return str(value)


def validate(data: Any, problems: Problems) -> Minutes:
    if not isinstance(data, dict):
        problems.add(None, N_("the minutes must be a mapping with decisions and tasks"))
        problems.raise_if_any()
    for key in data:
        if key not in ("decisions", "tasks"):
            problems.add(str(key), N_("unknown key (known: decisions, tasks)"))
    decisions = []
    raw_decisions = data.get("decisions") or []
    if not isinstance(raw_decisions, list):
        problems.add("decisions", N_("must be a list of texts"))
        raw_decisions = []
    for i, value in enumerate(raw_decisions):
        text = _text(value, ("decisions", i), problems, max_len=MAX_TEXT, one_line=False)
        if text:
            decisions.append(text)
    tasks = []
    raw_tasks = data.get("tasks") or []
    if not isinstance(raw_tasks, list):
        problems.add("tasks", N_("must be a list of tasks with who, what and optionally due and done"))
        raw_tasks = []
    for i, entry in enumerate(raw_tasks):
        path = ("tasks", i)
        if not isinstance(entry, dict):
            problems.add(path, N_("must be a mapping with who, what and optionally due and done"))
            continue
        for key in entry:
            if key not in ("who", "what", "due", "done"):
                problems.add((*path, key), N_("unknown key (known: who, what, due, done)"))
        who = _text(entry.get("who"), (*path, "who"), problems, max_len=MAX_LINE, one_line=True)
        what = _text(entry.get("what"), (*path, "what"), problems, max_len=MAX_TEXT, one_line=False)
        due = entry.get("due")
        if isinstance(due, datetime):
            due = due.date()
        elif isinstance(due, str):
            try:
                due = date.fromisoformat(due.strip())
            except ValueError:
                problems.add((*path, "due"), N_("%(value)r is not a date (expected e.g. 2027-12-31)"), value=due)
                due = None
        elif due is not None and not isinstance(due, date):
            problems.add((*path, "due"), N_("%(value)r is not a date (expected e.g. 2027-12-31)"), value=due)
            due = None
        done = entry.get("done", False)
        if not isinstance(done, bool):
            problems.add((*path, "done"), N_("must be true or false"))
            done = False
        if who and what:
            tasks.append(Task(who, what, due, done))
    problems.raise_if_any()
    return Minutes(tuple(decisions), tuple(tasks))


def parse_minutes(text: str, *, source: str = "<minutes>") -> Minutes:
    doc = parse_yaml(text, source)
    return validate(doc.data or {}, doc.problems())


def load_minutes(path: Path) -> Minutes:
    return parse_minutes(read_text_file(path), source=str(path))


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
