"""Values organisers write in several files: texts, dates and times, times of day, whole numbers in a range."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from eventkit.core.errors import N_
from eventkit.core.validation import clean_line, has_control
from eventkit.model.base import UNSET, problem

_CLOCK = re.compile(r"^\s*(\d{1,2})[:.](\d{2})\s*(?:Uhr)?\s*$")


def parse_clock(value: Any) -> time | None:
    """ "12:00", "9.30", "12:00 Uhr" (or YAML 1.1's reading of an unquoted 12:00, the number 720) as a time."""
    if isinstance(value, int) and not isinstance(value, bool):
        return time(value // 60, value % 60) if 0 <= value < 24 * 60 else None
    if isinstance(value, str):
        match = _CLOCK.match(value)
        if match and int(match.group(1)) < 24 and int(match.group(2)) < 60:
            return time(int(match.group(1)), int(match.group(2)))
    return None


def clock_text(value: Any) -> str | None:
    """A time of day as "HH:MM", or None."""
    parsed = parse_clock(value)
    return parsed.strftime("%H:%M") if parsed else None


def whole(value: Any, low: int, high: int) -> int | None:
    """A whole number from `low` to `high` (a text of digits counts), else None."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return None
    return value


MAX_TITLE = 200


def spec_text(value: Any, *, required: bool, max_len: int = MAX_TITLE, multiline: bool = False) -> str | None:
    """A text of an event spec: one line (NFC, trimmed) unless `multiline`; None when left empty."""
    if value is None or value is UNSET or (isinstance(value, str) and not value.strip()):
        if required:
            raise problem(N_("is required"))
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise problem(N_("must be a text"))
    if not multiline and has_control(value):
        raise problem(N_("must be a single line without control characters"))
    if len(value) > max_len:
        raise problem(N_("is too long (%(length)s characters, at most %(max)s)"), length=len(value), max=max_len)
    return clean_line(value) if not multiline else value.strip()


def local_datetime(value: Any, tz: ZoneInfo | None) -> datetime | None:
    """A date and time as written (local in `tz`, or with an offset); None without a time zone to place it in."""
    value = None if value is UNSET else value
    if isinstance(value, datetime):
        naive = value
    elif isinstance(value, date):
        naive = datetime.combine(value, time(0, 0))
    elif isinstance(value, str):
        try:
            naive = datetime.fromisoformat(value.strip())
        except ValueError:
            expected = N_("%(value)r is not a date and time (expected e.g. 2025-11-22T12:00)")
            raise problem(expected, value=value) from None
    else:
        raise problem(N_("is required") if value is None else N_("must be a date and time such as 2025-11-22T12:00"))
    if tz is None:
        return None
    if naive.tzinfo is not None:
        return naive.astimezone(tz)
    aware = naive.replace(tzinfo=tz)
    # a wall-clock time that does not exist (skipped by the switch to summer time) is a mistake
    if aware.astimezone(ZoneInfo("UTC")).astimezone(tz).replace(tzinfo=None) != naive:
        raise problem(N_("%(value)s does not exist in %(tz)s (clocks change then)"), value=naive.isoformat(), tz=tz.key)
    return aware
