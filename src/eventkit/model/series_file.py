"""The series file an organiser writes: the first meeting's event spec plus the rule (an RRULE), its end,
its exceptions and its members, checked by one pydantic model into a Series."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import icalendar
from dateutil.rrule import rrulestr
from pydantic import ValidationError, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from eventkit.core.errors import N_
from eventkit.core.validation import ValidationFailed
from eventkit.core.yamlfile import YamlText, parse_yaml, read_yaml
from eventkit.model.base import Check, Form, Found, Loc, context_of, given, located, problem, raw, validated
from eventkit.model.formats import discover
from eventkit.model.invitees import Invitee, read_invitees
from eventkit.model.series import MAX_OCCURRENCES, Moved, Series, localise, rule_starts, wall_clock
from eventkit.model.slug import SLUG_RE
from eventkit.model.spec import EventSpec, EventSpecModel, Venue, slugify
from eventkit.model.values import local_datetime

# keys of a series file besides those of an event spec (which describe the first meeting)
SERIES_KEYS = ("rrule", "until", "exceptions", "members")
RRULE_PARTS = ("FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS", "WKST")
FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
MAX_SERIES_SLUG = 89  # a meeting's slug adds -YYYY-MM-DD and must stay within 100 characters
Parts = dict[str, str]


def _parse_until(value: str) -> date | datetime:
    if "T" in value:
        stamp = datetime.strptime(value.rstrip("Z"), "%Y%m%dT%H%M%S")
        return stamp.replace(tzinfo=UTC) if value.endswith("Z") else stamp
    return datetime.strptime(value, "%Y%m%d").date()


def _rule(value: Any) -> Parts | None:
    """The RRULE's parts (NAME=VALUE), upper-case; None for a left-out rule (named as missing)."""
    if raw(value) is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise problem(N_("must be an RRULE text such as FREQ=MONTHLY;INTERVAL=3;BYDAY=2WE"))
    text = value.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    parts: Parts = {}
    for piece in text.split(";"):
        key, sep, part = piece.partition("=")
        key = key.strip().upper()
        if not sep or not part.strip():
            raise problem(N_("%(value)r is not a NAME=VALUE part of an RRULE"), value=piece)
        if key not in RRULE_PARTS:
            raise problem(N_("%(value)s is not supported here (use %(choices)s)"), value=key,
                          choices=", ".join(RRULE_PARTS))  # fmt: skip
        if key in parts:
            raise problem(N_("%(value)s is given twice"), value=key)
        parts[key] = part.strip().upper()
    if parts.get("FREQ") not in FREQS:
        raise problem(N_("FREQ must be one of %(choices)s"), choices=", ".join(FREQS))
    if "COUNT" in parts and "UNTIL" in parts:
        raise problem(N_("give COUNT or UNTIL, not both (RFC 5545)"))
    try:
        icalendar.vRecur.from_ical(";".join(f"{k}={v}" for k, v in parts.items()))
        rrulestr(";".join(f"{k}={v}" for k, v in parts.items() if k != "UNTIL"), dtstart=datetime(2000, 1, 1))
        if "UNTIL" in parts:
            _parse_until(parts["UNTIL"])
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise problem(N_("%(value)r is not a valid RRULE: %(reason)s"), value=value, reason=str(exc) or "?") from None
    if "COUNT" in parts and int(parts["COUNT"]) > MAX_OCCURRENCES:
        raise problem(N_("COUNT must be at most %(max)s"), max=MAX_OCCURRENCES)
    return parts


def _members(value: Any, info: ValidationInfo) -> tuple[Invitee, ...]:
    """The members' CSV file, read relative to the series file; its own problems name its file and line."""
    if raw(value) is None:
        return ()
    if not isinstance(value, str) or not value.strip():
        raise problem(N_("must be the path of a CSV file (columns: email, name, organisation, language)"))
    path = Path(value.strip())
    base_dir = context_of(info).get("base_dir")
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        return tuple(read_invitees(path))
    except ValidationFailed as exc:
        found = Found()
        for p in exc.problems:
            field = f"members: {p.field}" if p.field else "members"
            found.add_problem((), located(dataclasses.replace(p, field=field)))
        found.raise_if_any()
        return ()


def _template(value: Any, info: ValidationInfo) -> EventSpec:
    formats = context_of(info).get("formats") or {}
    model = EventSpecModel.model_validate(value, context=info.context)
    return model.to_spec(formats[model.format])


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise problem(N_("%(value)r is not a date (expected e.g. 2027-12-31)"), value=value)


class SeriesFile(Form):
    """A series file; its keys besides rrule, until, exceptions and members are the first meeting's spec."""

    not_a_mapping = N_("the series must be a mapping of keys such as title, format, start and rrule")
    flattened = ("template",)

    rrule: Annotated[Parts | None, Check(_rule, str)] = given(description="e.g. FREQ=MONTHLY;INTERVAL=3;BYDAY=2WE")
    members: Annotated[tuple[Invitee, ...], Check(_members, str | None)] = given(
        description="a CSV file (email, name, organisation, language) next to the series file"
    )
    template: Annotated[EventSpec, Check(_template, EventSpecModel)] = given(description="the first meeting")
    until: Annotated[Any, Check(raw, date | None)] = given(description="no meeting starts after this day")
    exceptions: Annotated[Any, Check(raw, dict[str, list[Any]] | None)] = given(
        description="skip: [dates], moved: [{date, start, end, venue}]"
    )

    @classmethod
    def known_keys(cls, data: Mapping[str, Any], info: ValidationInfo) -> None:
        return None  # the spec's keys are checked by the spec's model

    @classmethod
    def arranged(cls, data: Mapping[str, Any]) -> Mapping[str, Any]:
        spec = {k: v for k, v in data.items() if k not in SERIES_KEYS}
        if spec.get("slug") is None and isinstance(spec.get("title"), str):
            spec["slug"] = slugify(spec["title"])[:MAX_SERIES_SLUG].strip("-") or None
        return {**{k: data[k] for k in SERIES_KEYS if k in data}, "template": spec}

    @classmethod
    def across(cls, data: Mapping[str, Any], info: ValidationInfo) -> Any:
        slug = data.get("slug")
        if isinstance(slug, str) and SLUG_RE.match(slug) and len(slug) > MAX_SERIES_SLUG:
            yield (
                "",
                ("slug",),
                problem(
                    N_("is too long (%(length)s characters, at most %(max)s)"), length=len(slug), max=MAX_SERIES_SLUG
                ),
            )
        if data.get("rrule") is None:
            yield "members", ("rrule",), problem(N_("is required, e.g. FREQ=MONTHLY;INTERVAL=3;BYDAY=2WE"))

    @model_validator(mode="after")
    def _on_the_rule(self) -> SeriesFile:
        if self.rrule is not None and len(self.template.slug) <= MAX_SERIES_SLUG:
            self.series()
        return self

    def series(self) -> Series:
        """The series: its end, its first meeting on the rule, its exceptions on dates of the rule."""
        assert self.rrule is not None
        found = Found()
        tz = ZoneInfo(self.template.timezone)
        until = _until(self.until, self.rrule, tz, found)
        rule_text = ";".join(f"{k}={v}" for k, v in self.rrule.items() if k != "UNTIL")
        series = Series(template=self.template, rrule=rule_text, until=until, members=self.members)
        starts = rule_starts(series)
        if not starts or starts[0] != wall_clock(self.template.start):
            found.add(
                "start",
                N_("the first meeting (%(start)s) must be a date of the rule %(rule)s"),
                start=self.template.start.strftime("%Y-%m-%d %H:%M"),
                rule=rule_text,
            )
            found.raise_if_any()
        skip, moved = _exceptions(self.exceptions, series, starts, tz, found)
        found.raise_if_any()
        return dataclasses.replace(series, skip=skip, moved=moved)


def _until(value: Any, parts: Parts, tz: ZoneInfo, found: Found) -> datetime | None:
    """The series' end: the earlier of the RRULE's UNTIL and the `until:` key (a date counts to its end)."""
    ends: list[datetime] = []
    if "UNTIL" in parts:
        end = _parse_until(parts["UNTIL"])
        if isinstance(end, datetime):
            ends.append(end.astimezone(tz) if end.tzinfo else localise(end, tz))
        else:
            ends.append(localise(datetime.combine(end, time(23, 59, 59)), tz))
    if value is not None:
        try:
            if isinstance(value, datetime):
                local = local_datetime(value, tz)
                if local:
                    ends.append(local)
            else:
                ends.append(localise(datetime.combine(_date(value), time(23, 59, 59)), tz))
        except PydanticCustomError as exc:
            found.add_problem(("until",), exc)
    if "COUNT" in parts and value is not None:
        found.add("until", N_("give COUNT in the rule or until, not both"))
    return min(ends) if ends else None


def _not_a_meeting(day: date, loc: Loc, by_day: dict[date, datetime], found: Found) -> None:
    nearest = min(by_day, key=lambda d: abs((d - day).days)) if by_day else None
    found.add(
        loc,
        N_("%(value)s is not a date of the series (the nearest is %(nearest)s)"),
        value=day.isoformat(),
        nearest=nearest.isoformat() if nearest else "–",
    )


def _checked(check: Any, loc: Loc, found: Found, *args: Any) -> Any:
    """What `check` gives, or None with its problem in `found`."""
    try:
        return check(*args)
    except PydanticCustomError as exc:
        found.add_problem(loc, exc)
    except ValidationError as exc:
        found.take(exc, loc)
    return None


def _exceptions(
    value: Any, series: Series, starts: list[datetime], tz: ZoneInfo, found: Found
) -> tuple[tuple[date, ...], tuple[Moved, ...]]:
    if value is None:
        return (), ()
    if not isinstance(value, dict):
        found.add("exceptions", N_("must be a mapping with skip and moved"))
        return (), ()
    for key in value:
        if key not in ("skip", "moved"):
            found.add(("exceptions", key), N_("unknown key (known: skip, moved)"))
    by_day = {s.date(): s for s in starts}
    skip: list[date] = []
    raw_skip = value.get("skip") or []
    if not isinstance(raw_skip, list):
        found.add(("exceptions", "skip"), N_("must be a list of dates"))
        raw_skip = []
    for i, item in enumerate(raw_skip):
        loc = ("exceptions", "skip", i)
        day = _checked(_date, loc, found, item)
        if day is None:
            continue
        if day not in by_day:
            _not_a_meeting(day, loc, by_day, found)
        elif day in skip:
            found.add(loc, N_("%(value)s is given twice"), value=day.isoformat())
        else:
            skip.append(day)
    moved: list[Moved] = []
    raw_moved = value.get("moved") or []
    if not isinstance(raw_moved, list):
        found.add(("exceptions", "moved"), N_("must be a list of mappings with date and start"))
        raw_moved = []
    length = series.template.end - series.template.start
    for i, entry in enumerate(raw_moved):
        loc = ("exceptions", "moved", i)
        if not isinstance(entry, dict):
            found.add(loc, N_("must be a mapping with date, start and optionally end and venue"))
            continue
        for key in entry:
            if key not in ("date", "start", "end", "venue"):
                found.add((*loc, key), N_("unknown key (known: date, start, end, venue)"))
        day = _checked(_date, (*loc, "date"), found, entry.get("date"))
        start = _checked(local_datetime, (*loc, "start"), found, entry.get("start"), tz)
        end = venue = None
        if entry.get("end") is not None:
            end = _checked(local_datetime, (*loc, "end"), found, entry["end"], tz)
        if entry.get("venue") is not None:
            venue = _checked(Venue.model_validate, (*loc, "venue"), found, entry["venue"])
        if day is None or start is None:
            continue
        if day not in by_day:
            _not_a_meeting(day, (*loc, "date"), by_day, found)
            continue
        if day in skip:
            found.add((*loc, "date"), N_("%(value)s is skipped; it cannot be moved as well"), value=day.isoformat())
            continue
        if any(m.original == day for m in moved):
            found.add((*loc, "date"), N_("%(value)s is given twice"), value=day.isoformat())
            continue
        end = end or localise(wall_clock(start) + length, tz)
        if end <= start:
            found.add((*loc, "end"), N_("must be after the start (%(start)s)"), start=start.strftime("%Y-%m-%d %H:%M"))
            continue
        moved.append(Moved(day, start, end, venue))
    return tuple(sorted(skip)), tuple(sorted(moved, key=lambda m: m.original))


# --- reading a series file ---------------------------------------------------------------------------


def series_from(doc: YamlText, template_dir: Path, base_dir: Path | None = None) -> Series:
    model = validated(SeriesFile, doc.data, doc.problems(), formats=discover(template_dir), base_dir=base_dir)
    return model.series()


def load_series(path: Path, template_dir: Path) -> Series:
    """Read and validate a series file; raises ValidationFailed naming file, line, field and problem.

    The members' CSV is read relative to the series file.
    """
    return series_from(read_yaml(path), template_dir, path.parent)


def parse_series(text: str, template_dir: Path, *, source: str = "<series>", base_dir: Path | None = None) -> Series:
    return series_from(parse_yaml(text, source), template_dir, base_dir)
