"""Multi-day events: registration per day where the organiser wants it, and who comes on which day."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from babel.dates import format_date

from eventkit.model.formats import Text
from eventkit.model.sections import PER_DAY
from eventkit.model.spec import EventSpec

SPEC_KEY = PER_DAY
DAYS = "days"  # the registration field's name, and its options_from


def per_day(spec: EventSpec) -> bool:
    return bool(spec.extra.get(SPEC_KEY)) and spec.multi_day


def day_options(spec: EventSpec) -> tuple[tuple[str, Text], ...]:
    """The event's days as the choices of the registration form: 2025-11-22 -> "Samstag, 22. November 2025"."""
    return tuple(
        (
            day.isoformat(),
            Text(
                {lang: format_date(day, format="full", locale=loc) for lang, loc in (("de", "de_DE"), ("en", "en_GB"))}
            ),
        )
        for day in spec.days
    )


def attends(answers: dict[str, Any] | None, day: date) -> bool:
    """Whether a registration with these answers comes on `day` (without a choice of days: every day)."""
    chosen = (answers or {}).get(DAYS)
    if not isinstance(chosen, list):
        return True
    return day.isoformat() in chosen


def on_day(people: Iterable[Any], day: date) -> list[Any]:
    return [p for p in people if attends(getattr(p, "answers", None), day)]
