"""Values organisers write in several files: times of day, whole numbers in a range."""

from __future__ import annotations

import re
from datetime import time
from typing import Any

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
