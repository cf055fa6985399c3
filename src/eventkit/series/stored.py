"""A stored series (var/events/<slug>/series.json): its versions, what changed between them, one writer at a time."""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from eventkit.core.files import event_dir, events_dir, write_atomic
from eventkit.core.settings import Settings
from eventkit.events.series_ref import STATE_FILE, state_path
from eventkit.model.series import Series, occurrences

# what a calendar shows of the series: a change to any of these sends the whole calendar again
CALENDAR_FIELDS = ("title", "start", "end", "timezone", "venue", "online_url", "organiser")


class SeriesNotFound(LookupError):
    def __init__(self, slug: str):
        super().__init__(slug)
        self.slug = slug


@dataclass
class Stored:
    series: Series
    uid: str
    sequence: int
    planned: list[str] = field(default_factory=list)  # meetings whose lifecycle has been run

    def to_data(self) -> dict[str, Any]:
        return {"series": self.series.to_data(), "uid": self.uid, "sequence": self.sequence, "planned": self.planned}


@dataclass(frozen=True)
class SeriesChange:
    slug: str
    created: bool
    sequence: int
    skipped: tuple[date, ...] = ()  # rule dates newly skipped
    moved: tuple[date, ...] = ()  # rule dates newly moved, or moved again
    full: bool = False  # the rule, the usual time or place changed, or a meeting is back: all of it goes out again
    before: Series | None = field(default=None, compare=False, repr=False)  # the version it replaced

    @property
    def changed(self) -> bool:
        return self.full or bool(self.skipped or self.moved)


@contextmanager
def locked(settings: Settings, slug: str) -> Iterator[None]:
    """One writer of a series' state at a time (a weekly plan-series run and an organiser's update)."""
    folder = event_dir(settings, slug)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".series.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def load_stored(settings: Settings, slug: str) -> Stored:
    path = state_path(settings, slug)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SeriesNotFound(slug) from None
    return Stored(Series.from_data(data["series"]), data["uid"], int(data["sequence"]), list(data.get("planned") or []))


def write_stored(settings: Settings, stored: Stored) -> None:
    path = state_path(settings, stored.series.slug)
    write_atomic(path, json.dumps(stored.to_data(), ensure_ascii=False, indent=1))


def store_series(settings: Settings, series: Series) -> SeriesChange:
    """Store the series, or its new version; SEQUENCE rises when what calendars show of it changed."""
    with locked(settings, series.slug):
        try:
            old = load_stored(settings, series.slug)
        except SeriesNotFound:
            uid = f"series-{series.slug}@{settings.mail_from.rsplit('@', 1)[-1]}"
            write_stored(settings, Stored(series, uid, 0))
            return SeriesChange(series.slug, True, 0)
        before, after = old.series, series
        was, now = before.template.to_data(), after.template.to_data()
        full = any(was.get(k) != now.get(k) for k in CALENDAR_FIELDS) or (before.rrule, before.until) != (
            after.rrule,
            after.until,
        )
        old_moved = {m.original: m for m in before.moved}
        new_moved = {m.original: m for m in after.moved}
        skipped = tuple(sorted(set(after.skip) - set(before.skip)))
        moved = tuple(sorted(d for d, m in new_moved.items() if old_moved.get(d) != m))
        restored = (set(before.skip) - set(after.skip)) | (set(old_moved) - set(new_moved))
        full = full or bool(restored) or bool(skipped and moved)
        changed = full or bool(skipped or moved)
        sequence = old.sequence + 1 if changed else old.sequence
        write_stored(settings, Stored(series, old.uid, sequence, old.planned))
        if full:
            return SeriesChange(series.slug, False, sequence, full=True, before=before)
        return SeriesChange(series.slug, False, sequence, skipped, moved, before=before)


def mark_planned(settings: Settings, slug: str, meetings: list[str]) -> None:
    with locked(settings, slug):
        stored = load_stored(settings, slug)
        stored.planned = sorted(set(stored.planned) | set(meetings))
        write_stored(settings, stored)


def stored_slugs(settings: Settings) -> list[str]:
    return sorted(p.parent.name for p in events_dir(settings).glob(f"*/{STATE_FILE}"))


def active_series(settings: Settings, *, now: datetime | None = None) -> list[str]:
    """The stored series with a meeting still to come (by the rule, skipped ones aside)."""
    now = now or datetime.now(UTC)
    return [s for s in stored_slugs(settings) if occurrences(load_stored(settings, s).series, after=now)[:1]]
