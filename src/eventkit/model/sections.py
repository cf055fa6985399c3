"""The keys of an event spec that parts of eventkit read (the survey, privacy, the session grid, working
groups, registration per day), checked as the spec is read and kept as the organiser wrote them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pydantic import ValidationInfo

from eventkit.core.errors import N_
from eventkit.core.validation import has_control
from eventkit.model.base import UNSET, context_of, problem, raw
from eventkit.model.formats import Format
from eventkit.model.grid import SessionGrid, check_group_places
from eventkit.model.survey import audience, min_group, survey_changes

MAX_NOTICE_VERSION = 20
PER_DAY = "registration_per_day"


def format_of(info: ValidationInfo) -> Format | None:
    name = info.data.get("format")
    formats: Mapping[str, Format] = context_of(info).get("formats") or {}
    return formats.get(name) if isinstance(name, str) else None


def section(check: Any, key: str | None = None) -> Any:
    """A key of the spec that belongs to a part of eventkit, checked only for an event of a known format
    (and, given `key`, only where the format names it among its spec_fields); its value stays as written."""

    def section(value: Any, info: ValidationInfo) -> Any:
        fmt = format_of(info)
        if value is not UNSET and fmt is not None and (key is None or key in fmt.spec_fields):
            check(value, info, fmt)
        return raw(value)

    return section


def survey(value: Any, info: ValidationInfo, fmt: Format) -> None:
    survey_changes(value, list(fmt.survey))


def survey_audience(value: Any, info: ValidationInfo, fmt: Format) -> None:
    audience(value)


def survey_min_group(value: Any, info: ValidationInfo, fmt: Format) -> None:
    min_group(value)


def notice_version(value: Any, info: ValidationInfo, fmt: Format) -> None:
    if value is not None and (
        isinstance(value, bool)
        or not isinstance(value, str | int | float)
        or not str(value).strip()
        or len(str(value)) > MAX_NOTICE_VERSION
        or has_control(str(value))
    ):
        raise problem(
            N_("must be a short version such as 1, 2 or 2025-03 (at most %(max)s characters)"), max=MAX_NOTICE_VERSION
        )


def whole_from(low: int, high: int) -> Any:
    def check(value: Any, info: ValidationInfo, fmt: Format) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
            raise problem(N_("must be a whole number from %(min)s to %(max)s"), min=low, max=high)

    return check


def session_grid(value: Any, info: ValidationInfo, fmt: Format) -> None:
    SessionGrid.model_validate(value)


def group_places(value: Any, info: ValidationInfo, fmt: Format) -> None:
    check_group_places(value, raw(info.data.get("working_groups")))


def per_day(value: Any, info: ValidationInfo, fmt: Format) -> None:
    start, end = info.data.get("start"), info.data.get("end")
    if value is None:
        return
    if not isinstance(value, bool):
        raise problem(N_("must be true or false"))
    if value and start and end and (end - timedelta(microseconds=1)).date() == start.date():
        raise problem(N_("needs an event over more than one day (the end is on the day of the start)"))


def as_written(value: Any) -> Any:
    return raw(value)
