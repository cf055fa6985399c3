"""A recurring meeting: the first meeting's spec, an RRULE and its exceptions, expanded into meetings."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import get_day_names
from dateutil.rrule import rrule, rrulestr

from eventkit.core.render import translate
from eventkit.core.validation import N_
from eventkit.model.invitees import Invitee
from eventkit.model.spec import EventSpec, Venue

MAX_OCCURRENCES = 500  # a rule without an end is expanded only this far


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
                    "venue": m.venue.model_dump() if m.venue else None,
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
                    Venue.from_data(m["venue"]) if m.get("venue") else None,
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


def localise(naive: datetime, tz: ZoneInfo) -> datetime:
    """A wall-clock time in the zone; one the clocks skip counts with the offset before the change (RFC 5545 3.3.5)."""
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)


def wall_clock(value: datetime) -> datetime:
    return value.replace(tzinfo=None)


def meeting_slug(series_slug: str, day: date) -> str:
    return f"{series_slug}-{day.isoformat()}"


def rule_of(series: Series) -> rrule:
    """The dateutil rule in wall-clock time: 18:00 stays 18:00 in summer and in winter."""
    parsed = rrulestr(series.rrule, dtstart=wall_clock(series.template.start))
    assert isinstance(parsed, rrule)
    if series.until is not None:
        parsed = parsed.replace(until=wall_clock(series.until.astimezone(series.tz)))
    return parsed


def _bounded(series: Series) -> bool:
    return series.until is not None or "COUNT=" in series.rrule.upper()


def rule_starts(series: Series, before: datetime | None = None) -> list[datetime]:
    """The rule's starts (naive, local), up to `before` (aware) or the rule's end, at most MAX_OCCURRENCES."""
    rule = rule_of(series)
    if before is not None:
        limit = wall_clock(before.astimezone(series.tz))
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
    length = wall_clock(series.template.end) - wall_clock(series.template.start)
    moved = {m.original: m for m in series.moved}
    skipped = set(series.skip)
    out = []
    # a meeting moved to after `before` still counts by its rule date; one moved into the range from
    # later on does not: the rule date decides, so that each meeting is in exactly one range
    for naive in rule_starts(series, before):
        rid = localise(naive, tz)
        if after is not None and rid < after:
            continue
        day = naive.date()
        m = moved.get(day)
        occ = Occurrence(
            recurrence_id=rid,
            start=m.start if m else rid,
            end=m.end if m else localise(naive + length, tz),
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
    shift = wall_clock(occ.start) - wall_clock(template.start)  # in wall-clock time

    def moved(value: datetime) -> datetime:
        return localise(wall_clock(value) + shift, tz)

    agenda = tuple(
        dataclasses.replace(item, start=moved(item.start), end=moved(item.end) if item.end else None)
        for item in template.agenda
    )
    deadline = None
    if template.registration_deadline:
        # the deadline keeps its day distance and its clock time (23:59 two days before), even if the time moves
        days = timedelta(days=(occ.start.date() - template.start.date()).days)
        deadline = localise(wall_clock(template.registration_deadline) + days, tz)
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
