"""The programme of an event: items written as a time of day on a day of the event, placed in its time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from pydantic_core import PydanticCustomError

from eventkit.core.errors import N_
from eventkit.model.base import Found, problem
from eventkit.model.formats import Format
from eventkit.model.values import parse_clock, spec_text


@dataclass(frozen=True)
class AgendaItem:
    start: datetime  # aware, in the event's time zone
    title: str
    end: datetime | None = None


class AgendaEntry(BaseModel):
    """An item of the programme as written: the time of day, on the event's `day` (from 1), until when."""

    time: str
    title: str
    day: int = 1
    until: str | None = None


def planned(fmt: Format | None, start: datetime | None, language: str) -> tuple[AgendaItem, ...]:
    """The format's programme from the start, for an event whose spec gives none."""
    if not (fmt and start):
        return ()
    return tuple(AgendaItem(start + item.offset, item.title.get(language)) for item in fmt.agenda)


def agenda_of(value: Any, start: datetime | None, end: datetime | None, tz: ZoneInfo | None) -> tuple[AgendaItem, ...]:
    """The programme as written, each item placed in time; problems named by item (its first only)."""
    if not isinstance(value, list):
        raise problem(N_("must be a list of items with time and title"))
    found, items = Found(), list[AgendaItem]()
    for i, entry in enumerate(value):
        item = _agenda_item(entry, i, start, end, tz, found)
        if item is not None:
            items.append(item)
    found.raise_if_any()
    return tuple(items)


def _agenda_item(
    entry: Any, i: int, start: datetime | None, end: datetime | None, tz: ZoneInfo | None, found: Found
) -> AgendaItem | None:
    """One item of the programme; its first problem is named (a time is not checked without a title)."""
    if not isinstance(entry, Mapping):
        found.add((i,), N_("must be a mapping with time and title"))
        return None
    try:
        title = spec_text(entry.get("title"), required=True)
    except PydanticCustomError as exc:
        found.add_problem((i, "title"), exc)
        return None
    clock = parse_clock(entry.get("time"))
    if clock is None:
        found.add((i, "time"), N_('%(value)r is not a time of day (expected e.g. "12:00")'), value=entry.get("time"))
        return None
    day = entry.get("day", 1)
    if isinstance(day, bool) or not isinstance(day, int) or day < 1:
        found.add((i, "day"), N_("must be the day of the event, counting from 1"))
        return None
    if start is None or tz is None or end is None:
        return None
    when = datetime.combine(start.date() + timedelta(days=day - 1), clock, tzinfo=tz)
    item_end = None
    if entry.get("until") is not None:
        until = parse_clock(entry.get("until"))
        if until is None:
            found.add(
                (i, "until"), N_('%(value)r is not a time of day (expected e.g. "12:00")'), value=entry.get("until")
            )
        else:
            item_end = datetime.combine(when.date(), until, tzinfo=tz)
    if when < start - timedelta(minutes=1) or when > end:
        found.add(
            (i, "time"),
            N_("%(value)s lies outside the event (%(start)s to %(end)s)"),
            value=when.strftime("%Y-%m-%d %H:%M"),
            start=start.strftime("%Y-%m-%d %H:%M"),
            end=end.strftime("%Y-%m-%d %H:%M"),
        )
        return None
    assert title is not None
    return AgendaItem(when, title, item_end)
