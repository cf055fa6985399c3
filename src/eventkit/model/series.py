"""A recurring meeting: a series file (the first meeting's spec plus an RRULE and its exceptions), expanded."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
from babel.dates import get_day_names
from dateutil.rrule import rrule, rrulestr
from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from eventkit.core.render import translate
from eventkit.core.validation import N_, Problems, ValidationFailed, read_text_file
from eventkit.core.yamlfile import parse_yaml
from eventkit.model.base import report
from eventkit.model.invitees import Invitee, read_invitees
from eventkit.model.spec import SLUG_RE, EventSpec, Venue, slugify, validate_spec
from eventkit.model.values import local_datetime

# keys of a series file besides those of an event spec (which describe the first meeting)
SERIES_KEYS = ("rrule", "until", "exceptions", "members")
RRULE_PARTS = ("FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS", "WKST")
FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
MAX_OCCURRENCES = 500  # a rule without an end is expanded only this far
MAX_SERIES_SLUG = 89  # a meeting's slug adds -YYYY-MM-DD and must stay within 100 characters


@dataclass(frozen=True)
class Moved:
    original: date  # the date the rule gives
    start: datetime  # aware, in the series' time zone
    end: datetime
    venue: Venue | None = None


@dataclass(frozen=True)
class Series:
    """The first meeting's spec is the template of every meeting; the rule says when they take place."""

    template: EventSpec  # its slug is the series' slug
    rrule: str  # the RRULE value without UNTIL (kept in `until`)
    until: datetime | None = None  # aware: no meeting starts after it
    skip: tuple[date, ...] = ()
    moved: tuple[Moved, ...] = ()
    members: tuple[Invitee, ...] = ()

    @property
    def slug(self) -> str:
        return self.template.slug

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.template.timezone)

    def to_data(self) -> dict[str, Any]:
        return {
            "template": self.template.to_data(),
            "rrule": self.rrule,
            "until": self.until.isoformat() if self.until else None,
            "skip": [d.isoformat() for d in self.skip],
            "moved": [
                {
                    "original": m.original.isoformat(),
                    "start": m.start.isoformat(),
                    "end": m.end.isoformat(),
                    "venue": vars(m.venue).copy() if m.venue else None,
                }
                for m in self.moved
            ],
            "members": [
                {
                    "email": i.email,
                    "name": i.name,
                    "organisation": i.organisation,
                    "language": i.language,
                    "line": i.line,
                }
                for i in self.members
            ],
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Series:
        template = EventSpec.from_data(data["template"])
        tz = ZoneInfo(template.timezone)
        return cls(
            template=template,
            rrule=data["rrule"],
            until=datetime.fromisoformat(data["until"]).astimezone(tz) if data.get("until") else None,
            skip=tuple(date.fromisoformat(d) for d in data.get("skip") or []),
            moved=tuple(
                Moved(
                    date.fromisoformat(m["original"]),
                    datetime.fromisoformat(m["start"]).astimezone(tz),
                    datetime.fromisoformat(m["end"]).astimezone(tz),
                    Venue(**m["venue"]) if m.get("venue") else None,
                )
                for m in data.get("moved") or []
            ),
            members=tuple(Invitee(**m) for m in data.get("members") or []),
        )


@dataclass(frozen=True)
class Occurrence:
    recurrence_id: datetime  # the start the rule gives (RECURRENCE-ID), aware
    start: datetime  # where it really starts: the same, or the moved start
    end: datetime
    venue: Venue | None
    slug: str  # <series>-<YYYY-MM-DD> of the rule's date: it stays when the meeting moves
    skipped: bool = False
    moved: bool = False


def _localise(naive: datetime, tz: ZoneInfo) -> datetime:
    """A wall-clock time in the zone; one the clocks skip counts with the offset before the change (RFC 5545 3.3.5)."""
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)


def _naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None)


def meeting_slug(series_slug: str, day: date) -> str:
    return f"{series_slug}-{day.isoformat()}"


def rule_of(series: Series) -> rrule:
    """The dateutil rule in wall-clock time: 18:00 stays 18:00 in summer and in winter."""
    parsed = rrulestr(series.rrule, dtstart=_naive(series.template.start))
    assert isinstance(parsed, rrule)
    if series.until is not None:
        parsed = parsed.replace(until=_naive(series.until.astimezone(series.tz)))
    return parsed


def _bounded(series: Series) -> bool:
    return series.until is not None or "COUNT=" in series.rrule.upper()


def rule_starts(series: Series, before: datetime | None = None) -> list[datetime]:
    """The rule's starts (naive, local), up to `before` (aware) or the rule's end, at most MAX_OCCURRENCES."""
    rule = rule_of(series)
    if before is not None:
        limit = _naive(before.astimezone(series.tz))
        return list(itertools.islice(itertools.takewhile(lambda d: d < limit, rule), MAX_OCCURRENCES))
    return list(itertools.islice(rule, MAX_OCCURRENCES))


def occurrences(
    series: Series,
    *,
    after: datetime | None = None,
    before: datetime | None = None,
    include_skipped: bool = False,
) -> list[Occurrence]:
    """The meetings whose rule date lies in [after, before): moved ones at their new time, skipped ones left out."""
    tz = series.tz
    length = _naive(series.template.end) - _naive(series.template.start)
    moved = {m.original: m for m in series.moved}
    skipped = set(series.skip)
    out = []
    # a meeting moved to after `before` still counts by its rule date; one moved into the range from
    # later on does not: the rule date decides, so that each meeting is in exactly one range
    for naive in rule_starts(series, before):
        rid = _localise(naive, tz)
        if after is not None and rid < after:
            continue
        day = naive.date()
        m = moved.get(day)
        occ = Occurrence(
            recurrence_id=rid,
            start=m.start if m else rid,
            end=m.end if m else _localise(naive + length, tz),
            venue=(m.venue or series.template.venue) if m else series.template.venue,
            slug=meeting_slug(series.slug, day),
            skipped=day in skipped,
            moved=m is not None,
        )
        if occ.skipped and not include_skipped:
            continue
        out.append(occ)
    return out


def meeting_spec(series: Series, occ: Occurrence) -> EventSpec:
    """The meeting as an ordinary event: the template moved to the occurrence, agenda and deadline with it."""
    template, tz = series.template, series.tz
    shift = _naive(occ.start) - _naive(template.start)  # in wall-clock time

    def moved(value: datetime) -> datetime:
        return _localise(_naive(value) + shift, tz)

    agenda = tuple(
        dataclasses.replace(item, start=moved(item.start), end=moved(item.end) if item.end else None)
        for item in template.agenda
    )
    deadline = None
    if template.registration_deadline:
        # the deadline keeps its day distance and its clock time (23:59 two days before), even if the time moves
        days = timedelta(days=(occ.start.date() - template.start.date()).days)
        deadline = _localise(_naive(template.registration_deadline) + days, tz)
    if deadline is not None and deadline > occ.end:
        deadline = occ.end
    extra = {**template.extra, "series": {"slug": series.slug, "recurrence_id": occ.recurrence_id.isoformat()}}
    return dataclasses.replace(
        template,
        slug=occ.slug,
        start=occ.start,
        end=occ.end,
        venue=occ.venue,
        agenda=agenda,
        registration_deadline=deadline,
        extra=extra,
    )


def series_of(spec: EventSpec) -> tuple[str, datetime] | None:
    """For a meeting of a series: the series' slug and the meeting's RECURRENCE-ID; else None."""
    ref = spec.extra.get("series")
    if not isinstance(ref, dict) or not ref.get("slug") or not ref.get("recurrence_id"):
        return None
    return str(ref["slug"]), datetime.fromisoformat(str(ref["recurrence_id"]))


# --- reading a series file ---------------------------------------------------------------------------


def load_series(path: Path, template_dir: Path) -> Series:
    """Read and validate a series file; raises ValidationFailed naming file, line, field and problem.

    The members' CSV is read relative to the series file.
    """
    source = str(path)
    text = read_text_file(path)
    return parse_series(text, template_dir, source=source, base_dir=path.parent)


def parse_series(text: str, template_dir: Path, *, source: str = "<series>", base_dir: Path | None = None) -> Series:
    doc = parse_yaml(text, source)
    problems, data = doc.problems(), doc.data
    if not isinstance(data, dict):
        problems.add(None, N_("the series must be a mapping of keys such as title, format, start and rrule"))
        raise ValidationFailed(problems.items)

    own = {k: data[k] for k in SERIES_KEYS if k in data}
    spec_data = {k: v for k, v in data.items() if k not in SERIES_KEYS}
    slug = spec_data.get("slug")
    if slug is None and isinstance(spec_data.get("title"), str):
        slug = slugify(spec_data["title"])[:MAX_SERIES_SLUG].strip("-")
        spec_data["slug"] = slug or None
    elif isinstance(slug, str) and SLUG_RE.match(slug) and len(slug) > MAX_SERIES_SLUG:
        problems.add("slug", N_("is too long (%(length)s characters, at most %(max)s)"), length=len(slug), max=89)

    raw_rule = own.get("rrule")
    parts = _check_rule(raw_rule, problems)
    members: tuple[Invitee, ...] = ()
    if own.get("members") is not None:
        members = _members(own["members"], base_dir, problems)
    if "rrule" not in own:
        problems.add("rrule", N_("is required, e.g. FREQ=MONTHLY;INTERVAL=3;BYDAY=2WE"))

    try:
        template = validate_spec(spec_data, template_dir, problems)
    except ValidationFailed:
        raise ValidationFailed(problems.items) from None
    tz = ZoneInfo(template.timezone)

    until = _until(own.get("until"), parts, tz, problems)
    if parts is None:
        problems.raise_if_any()
        raise AssertionError("unreachable: a rule with problems was reported")
    rule_text = ";".join(f"{k}={v}" for k, v in parts.items() if k != "UNTIL")
    series = Series(template=template, rrule=rule_text, until=until, members=members)
    starts = rule_starts(series)
    if not starts or starts[0] != _naive(template.start):
        problems.add(
            "start",
            N_("the first meeting (%(start)s) must be a date of the rule %(rule)s"),
            start=template.start.strftime("%Y-%m-%d %H:%M"),
            rule=rule_text,
        )
        problems.raise_if_any()
    skip, moved = _exceptions(own.get("exceptions"), series, starts, tz, problems)
    problems.raise_if_any()
    return dataclasses.replace(series, skip=skip, moved=moved)


def _check_rule(raw: Any, problems: Problems) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip():
        problems.add("rrule", N_("must be an RRULE text such as FREQ=MONTHLY;INTERVAL=3;BYDAY=2WE"))
        return None
    text = raw.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    parts: dict[str, str] = {}
    for piece in text.split(";"):
        key, sep, value = piece.partition("=")
        key = key.strip().upper()
        if not sep or not value.strip():
            problems.add("rrule", N_("%(value)r is not a NAME=VALUE part of an RRULE"), value=piece)
            return None
        if key not in RRULE_PARTS:
            problems.add("rrule", N_("%(value)s is not supported here (use %(choices)s)"), value=key,
                         choices=", ".join(RRULE_PARTS))  # fmt: skip
            return None
        if key in parts:
            problems.add("rrule", N_("%(value)s is given twice"), value=key)
            return None
        parts[key] = value.strip().upper()
    if parts.get("FREQ") not in FREQS:
        problems.add("rrule", N_("FREQ must be one of %(choices)s"), choices=", ".join(FREQS))
        return None
    if "COUNT" in parts and "UNTIL" in parts:
        problems.add("rrule", N_("give COUNT or UNTIL, not both (RFC 5545)"))
        return None
    try:
        icalendar.vRecur.from_ical(";".join(f"{k}={v}" for k, v in parts.items()))
        rrulestr(";".join(f"{k}={v}" for k, v in parts.items() if k != "UNTIL"), dtstart=datetime(2000, 1, 1))
        if "UNTIL" in parts:
            _parse_until(parts["UNTIL"])
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        problems.add("rrule", N_("%(value)r is not a valid RRULE: %(reason)s"), value=raw, reason=str(exc) or "?")
        return None
    if "COUNT" in parts and int(parts["COUNT"]) > MAX_OCCURRENCES:
        problems.add("rrule", N_("COUNT must be at most %(max)s"), max=MAX_OCCURRENCES)
        return None
    return parts


def _parse_until(value: str) -> date | datetime:
    if "T" in value:
        stamp = datetime.strptime(value.rstrip("Z"), "%Y%m%dT%H%M%S")
        return stamp.replace(tzinfo=UTC) if value.endswith("Z") else stamp
    return datetime.strptime(value, "%Y%m%d").date()


def _until(raw: Any, parts: dict[str, str] | None, tz: ZoneInfo, problems: Problems) -> datetime | None:
    """The series' end: the earlier of the RRULE's UNTIL and the `until:` key (a date counts to its end)."""
    ends: list[datetime] = []
    if parts and "UNTIL" in parts:
        value = _parse_until(parts["UNTIL"])
        if isinstance(value, datetime):
            ends.append(value.astimezone(tz) if value.tzinfo else _localise(value, tz))
        else:
            ends.append(_localise(datetime.combine(value, time(23, 59, 59)), tz))
    if raw is not None:
        if isinstance(raw, datetime):
            local = _local_datetime(raw, ("until",), tz, problems)
            if local:
                ends.append(local)
        elif isinstance(raw, date):
            ends.append(_localise(datetime.combine(raw, time(23, 59, 59)), tz))
        elif isinstance(raw, str):
            try:
                ends.append(_localise(datetime.combine(date.fromisoformat(raw.strip()), time(23, 59, 59)), tz))
            except ValueError:
                problems.add("until", N_("%(value)r is not a date (expected e.g. 2027-12-31)"), value=raw)
        else:
            problems.add("until", N_("%(value)r is not a date (expected e.g. 2027-12-31)"), value=raw)
    if parts and "COUNT" in parts and raw is not None:
        problems.add("until", N_("give COUNT in the rule or until, not both"))
    return min(ends) if ends else None


def _members(raw: Any, base_dir: Path | None, problems: Problems) -> tuple[Invitee, ...]:
    if not isinstance(raw, str) or not raw.strip():
        problems.add("members", N_("must be the path of a CSV file (columns: email, name, organisation, language)"))
        return ()
    path = Path(raw.strip())
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        return tuple(read_invitees(path))
    except ValidationFailed as exc:
        for p in exc.problems:
            problems.items.append(dataclasses.replace(p, field=f"members: {p.field}" if p.field else "members"))
        return ()


def _date(value: Any, path: tuple[Any, ...], problems: Problems) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    problems.add(path, N_("%(value)r is not a date (expected e.g. 2027-12-31)"), value=value)
    return None


def _not_a_meeting(day: date, path: tuple[Any, ...], by_day: dict[date, datetime], problems: Problems) -> None:
    nearest = min(by_day, key=lambda d: abs((d - day).days)) if by_day else None
    problems.add(
        path,
        N_("%(value)s is not a date of the series (the nearest is %(nearest)s)"),
        value=day.isoformat(),
        nearest=nearest.isoformat() if nearest else "–",
    )


def _exceptions(
    raw: Any, series: Series, starts: list[datetime], tz: ZoneInfo, problems: Problems
) -> tuple[tuple[date, ...], tuple[Moved, ...]]:
    if raw is None:
        return (), ()
    if not isinstance(raw, dict):
        problems.add("exceptions", N_("must be a mapping with skip and moved"))
        return (), ()
    for key in raw:
        if key not in ("skip", "moved"):
            problems.add(("exceptions", key), N_("unknown key (known: skip, moved)"))
    by_day = {s.date(): s for s in starts}
    skip: list[date] = []
    raw_skip = raw.get("skip") or []
    if not isinstance(raw_skip, list):
        problems.add(("exceptions", "skip"), N_("must be a list of dates"))
        raw_skip = []
    for i, value in enumerate(raw_skip):
        day = _date(value, ("exceptions", "skip", i), problems)
        if day is None:
            continue
        if day not in by_day:
            _not_a_meeting(day, ("exceptions", "skip", i), by_day, problems)
        elif day in skip:
            problems.add(("exceptions", "skip", i), N_("%(value)s is given twice"), value=day.isoformat())
        else:
            skip.append(day)
    moved: list[Moved] = []
    raw_moved = raw.get("moved") or []
    if not isinstance(raw_moved, list):
        problems.add(("exceptions", "moved"), N_("must be a list of mappings with date and start"))
        raw_moved = []
    length = series.template.end - series.template.start
    for i, entry in enumerate(raw_moved):
        path = ("exceptions", "moved", i)
        if not isinstance(entry, dict):
            problems.add(path, N_("must be a mapping with date, start and optionally end and venue"))
            continue
        for key in entry:
            if key not in ("date", "start", "end", "venue"):
                problems.add((*path, key), N_("unknown key (known: date, start, end, venue)"))
        day = _date(entry.get("date"), (*path, "date"), problems)
        start = _local_datetime(entry.get("start"), (*path, "start"), tz, problems)
        end = _local_datetime(entry["end"], (*path, "end"), tz, problems) if entry.get("end") is not None else None
        venue = _venue(entry.get("venue"), (*path, "venue"), problems)
        if day is None or start is None:
            continue
        if day not in by_day:
            _not_a_meeting(day, (*path, "date"), by_day, problems)
            continue
        if day in skip:
            problems.add((*path, "date"), N_("%(value)s is skipped; it cannot be moved as well"), value=day.isoformat())
            continue
        if any(m.original == day for m in moved):
            problems.add((*path, "date"), N_("%(value)s is given twice"), value=day.isoformat())
            continue
        end = end or _localise(_naive(start) + length, tz)
        if end <= start:
            problems.add(
                (*path, "end"), N_("must be after the start (%(start)s)"), start=start.strftime("%Y-%m-%d %H:%M")
            )
            continue
        moved.append(Moved(day, start, end, venue))
    return tuple(sorted(skip)), tuple(sorted(moved, key=lambda m: m.original))


def _venue(raw: Any, path: tuple[Any, ...], problems: Problems) -> Venue | None:
    if raw is None:
        return None
    try:
        return Venue.model_validate(raw)
    except ValidationError as exc:
        report(problems, path, exc)
        return None


def _local_datetime(value: Any, path: tuple[Any, ...], tz: ZoneInfo, problems: Problems) -> datetime | None:
    try:
        return local_datetime(value, tz)
    except PydanticCustomError as exc:
        report(problems, path, exc)
        return None


# --- the rhythm in words -----------------------------------------------------------------------------

_ORDINALS = {1: N_("first"), 2: N_("second"), 3: N_("third"), 4: N_("fourth"), 5: N_("fifth"), -1: N_("last")}
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_EVERY = {
    "DAILY": (N_("every day"), N_("every %(count)s days")),
    "WEEKLY": (N_("every week"), N_("every %(count)s weeks")),
    "MONTHLY": (N_("every month"), N_("every %(count)s months")),
    "YEARLY": (N_("every year"), N_("every %(count)s years")),
}


def rhythm(series: Series, language: str) -> str:
    """The rule in words, e.g. "alle 3 Monate am zweiten Mittwoch"; the dates are listed besides it."""
    parts = dict(p.split("=", 1) for p in series.rrule.split(";"))
    freq, interval = parts["FREQ"], int(parts.get("INTERVAL", "1"))
    one, many = _EVERY[freq]
    words = [translate(language, one) if interval == 1 else translate(language, many, count=interval)]
    names = get_day_names("wide", locale="de_DE" if language == "de" else "en_GB")
    byday = [d for d in parts.get("BYDAY", "").split(",") if d]
    setpos = parts.get("BYSETPOS")
    days = []
    for item in byday:
        code, ordinal = item[-2:], item[:-2] or setpos
        name = names[_WEEKDAYS.index(code)]
        if ordinal and freq in ("MONTHLY", "YEARLY"):
            n = int(ordinal)
            if n not in _ORDINALS:
                return words[0]
            days.append(translate(language, "the %(ordinal)s %(weekday)s", ordinal=translate(language, _ORDINALS[n]),
                                  weekday=name))  # fmt: skip
        else:
            days.append(name)
    if days:
        listed = days[0] if len(days) == 1 else ", ".join(days[:-1]) + " " + translate(language, "and") + " " + days[-1]
        words.append(translate(language, "on %(days)s", days=listed))
    elif "BYMONTHDAY" in parts and "," not in parts["BYMONTHDAY"] and freq == "MONTHLY":
        words.append(translate(language, "on day %(day)s of the month", day=parts["BYMONTHDAY"]))
    elif freq == "WEEKLY":
        words.append(translate(language, "on %(days)s", days=names[series.template.start.weekday()]))
    return " ".join(words)
