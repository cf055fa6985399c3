"""iCalendar invites (RFC 5545/5546): one stable UID per event, a VTIMEZONE, one ATTENDEE per recipient."""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import icalendar
from icalendar.parser import Contentline

from eventkit.mail.mime import ascii_address

PRODID = "-//eventkit//eventkit 0.1//DE"
_LOCAL_SAFE = "!$&'*+-=^_`{|}~."
# the calendar is built once with this ATTENDEE, whose line each recipient's own line then replaces
ATTENDEE_PLACEHOLDER = "mailto:attendee@eventkit.invalid"
ATTENDEE_MARK = f"ATTENDEE:{ATTENDEE_PLACEHOLDER}\r\n".encode()


def _offsets(tz: ZoneInfo, at: datetime) -> tuple[timedelta, timedelta, str]:
    local = at.astimezone(tz)
    return local.utcoffset() or timedelta(0), local.dst() or timedelta(0), local.tzname() or tz.key


def _transitions(tz: ZoneInfo, first: datetime, last: datetime) -> list[datetime]:
    """UTC instants in [first, last] at which the zone's offset changes (found to the second)."""
    found = []
    step = timedelta(days=7)
    t = first
    while t < last:
        nxt = min(t + step, last)
        if _offsets(tz, t)[:2] != _offsets(tz, nxt)[:2]:
            lo, hi = t, nxt
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if _offsets(tz, mid)[:2] == _offsets(tz, lo)[:2]:
                    lo = mid
                else:
                    hi = mid
            found.append(hi.replace(microsecond=0))
        t = nxt
    return found


_POSIX = re.compile(
    r"^(?P<std><[^>]+>|[A-Za-z]+)(?P<stdoff>[+-]?\d{1,2}(?::\d{2}){0,2})"
    r"(?:(?P<dst><[^>]+>|[A-Za-z]+)(?P<dstoff>[+-]?\d{1,2}(?::\d{2}){0,2})?"
    r",(?P<start>M\d{1,2}\.\d\.\d(?:/[+-]?\d{1,3}(?::\d{2}){0,2})?)"
    r",(?P<end>M\d{1,2}\.\d\.\d(?:/[+-]?\d{1,3}(?::\d{2}){0,2})?))?$"
)
_DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")


def _posix_rule(tzid: str) -> str | None:
    """The POSIX TZ string at the end of the zone's TZif file: the rule in force from now on."""
    candidates = [Path(base) / tzid for base in zoneinfo.TZPATH]
    try:
        candidates.append(Path(str(resources.files("tzdata.zoneinfo").joinpath(*tzid.split("/")))))
    except ModuleNotFoundError:
        pass
    for path in candidates:
        if path.is_file():
            data = path.read_bytes()
            if data.startswith(b"TZif") and data[4:5] >= b"2" and data.endswith(b"\n"):
                return data[data.rindex(b"\n", 0, len(data) - 1) + 1 : -1].decode("ascii")
    return None


def _hms(text: str) -> timedelta:
    sign = -1 if text.startswith("-") else 1
    parts = [int(p) for p in text.lstrip("+-").split(":")] + [0, 0]
    return sign * timedelta(hours=parts[0], minutes=parts[1], seconds=parts[2])


@dataclass(frozen=True)
class _Onset:
    month: int
    week: int  # 1-4, or 5 for the last
    weekday: int  # 0 = Sunday, as POSIX counts
    at: timedelta  # local wall time, in the offset before the change

    @classmethod
    def parse(cls, text: str) -> _Onset:
        rule, _, at = text.partition("/")
        month, week, weekday = (int(x) for x in rule[1:].split("."))
        return cls(month, week, weekday, _hms(at) if at else timedelta(hours=2))

    def local(self, year: int) -> datetime:
        first = date(year, self.month, 1)
        shift = (self.weekday - (first.isoweekday() % 7)) % 7
        day = first + timedelta(days=shift + 7 * (self.week - 1))
        while day.month != self.month:  # week 5 means the last such weekday of the month
            day -= timedelta(days=7)
        return datetime(day.year, day.month, day.day) + self.at

    def rrule(self) -> dict[str, object]:
        return {"freq": "YEARLY", "bymonth": self.month,
                "byday": f"{-1 if self.week == 5 else self.week}{_DAYS[self.weekday]}"}  # fmt: skip


def _rule_holds(tz: ZoneInfo, year: int, onsets: list[tuple[_Onset, timedelta, timedelta]]) -> bool:
    """Whether the zone's changes in `year` are exactly the rule's (so the RRULE may start then)."""
    start = datetime(year, 1, 1, tzinfo=UTC)
    changes = _transitions(tz, start, datetime(year + 1, 1, 1, tzinfo=UTC))
    if len(changes) != len(onsets):
        return False
    instants = [((onset.local(year) - before).replace(tzinfo=UTC), after) for onset, before, after in onsets]
    expected = sorted(instant for instant, _after in instants)
    return all(abs((c - e).total_seconds()) < 2 for c, e in zip(sorted(changes), expected, strict=True)) and all(
        _offsets(tz, instant)[0] == after for instant, after in instants
    )


@lru_cache(maxsize=64)
def vtimezone(tzid: str) -> icalendar.Timezone:
    """The zone's current rules as a VTIMEZONE with yearly RRULEs, the same for every event in the zone.

    Calendar clients cache time zones by TZID, so the component must not depend on the event. Each
    observance starts in the first year since which the zone has followed its current rule, and its
    DTSTART is the local time before the change (in TZOFFSETFROM), as RFC 5545 3.6.5 says.
    """
    tz = ZoneInfo(tzid)
    comp = icalendar.Timezone()
    comp.add("tzid", tzid)
    rule = _posix_rule(tzid)
    match = _POSIX.match(rule) if rule else None
    if match is None:
        raise ValueError(f"no usable rule for the time zone {tzid!r}")
    std_name = match["std"].strip("<>")
    std = -_hms(match["stdoff"])  # POSIX counts west of Greenwich as positive
    if not match["dst"]:
        offset = std
        since = datetime(1970, 1, 1)
        changes = _transitions(tz, datetime(1970, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=400))
        if changes:
            since = (changes[-1] + offset).replace(tzinfo=None)
        sub = icalendar.TimezoneStandard()
        sub.add("dtstart", since)
        sub.add("tzoffsetfrom", offset)
        sub.add("tzoffsetto", offset)
        sub.add("tzname", std_name)
        comp.add_component(sub)
        return comp
    dst = -_hms(match["dstoff"]) if match["dstoff"] else std + timedelta(hours=1)
    begin, end = _Onset.parse(match["start"]), _Onset.parse(match["end"])
    onsets = [(begin, std, dst), (end, dst, std)]
    year = datetime.now(UTC).year
    while year > 1970 and _rule_holds(tz, year - 1, onsets):
        year -= 1
    for onset, before, after, name, daylight in (
        (begin, std, dst, match["dst"].strip("<>"), True),
        (end, dst, std, std_name, False),
    ):
        observance: icalendar.TimezoneDaylight | icalendar.TimezoneStandard = (
            icalendar.TimezoneDaylight() if daylight else icalendar.TimezoneStandard()
        )
        observance.add("dtstart", onset.local(year))
        observance.add("rrule", onset.rrule())
        observance.add("tzoffsetfrom", before)
        observance.add("tzoffsetto", after)
        observance.add("tzname", name)
        comp.add_component(observance)
    return comp


@dataclass(frozen=True)
class CalendarEvent:
    """What a calendar entry says about an event; no secret link may go in here."""

    uid: str
    sequence: int
    summary: str
    start: datetime  # aware, in the event's zone
    end: datetime
    timezone: str
    organiser_name: str
    organiser_email: str
    location: str = ""
    description: str = ""
    url: str | None = None
    status: str = "CONFIRMED"  # CONFIRMED or CANCELLED
    last_modified: datetime | None = None
    recurrence_id: datetime | None = None  # one meeting of a series (eventkit.events.series_ref), in the event's zone


class Invite:
    """One calendar built per event, method and language; each recipient gets it with their ATTENDEE line."""

    def __init__(self, event: CalendarEvent, method: str = "REQUEST", dtstamp: datetime | None = None):
        if method not in ("REQUEST", "CANCEL", "PUBLISH"):
            raise ValueError(f"unsupported iTIP method {method!r}")
        self.method = method
        self.event = event
        cal = icalendar.Calendar()
        cal.add("prodid", PRODID)
        cal.add("version", "2.0")
        cal.add("calscale", "GREGORIAN")
        cal.add("method", method)
        cal.add_component(vtimezone(event.timezone))
        vevent = icalendar.Event()
        vevent.add("uid", event.uid)
        vevent.add("sequence", event.sequence)
        vevent.add("dtstamp", (dtstamp or datetime.now(UTC)).replace(microsecond=0))
        if event.last_modified:
            vevent.add("last-modified", event.last_modified.astimezone(UTC).replace(microsecond=0))
        vevent.add("dtstart", event.start)
        vevent.add("dtend", event.end)
        if event.recurrence_id is not None:
            vevent.add("recurrence-id", event.recurrence_id)
        vevent.add("summary", event.summary)
        if event.location:
            vevent.add("location", event.location)
        if event.description:
            vevent.add("description", event.description)
        if event.url:
            vevent.add("url", event.url)
        vevent.add("status", "CANCELLED" if method == "CANCEL" else event.status)
        vevent.add("transp", "OPAQUE")
        vevent.add("class", "PUBLIC")
        organizer = icalendar.vCalAddress(mailto(event.organiser_email))
        organizer.params["CN"] = _param_text(event.organiser_name)
        vevent.add("organizer", organizer)
        vevent.add("attendee", ATTENDEE_PLACEHOLDER)
        cal.add_component(vevent)
        data = cal.to_ical()
        if ATTENDEE_MARK not in data:
            raise RuntimeError("icalendar did not keep the attendee placeholder on one line")
        head, tail = data.split(ATTENDEE_MARK)
        self._head: bytes = head
        self._tail: bytes = tail

    def without_attendee(self) -> bytes:
        """The calendar for anyone (METHOD:PUBLISH on the public page): organiser only, no attendee."""
        return self._head + self._tail

    def for_attendee(self, name: str, email: str, partstat: str = "NEEDS-ACTION") -> bytes:
        """The calendar with this recipient as ATTENDEE; partstat ACCEPTED once they have registered."""
        return self._head + attendee_line(name, email, partstat) + self._tail


def attendee_line(name: str, email: str, partstat: str = "NEEDS-ACTION") -> bytes:
    """The recipient's ATTENDEE line, with its line break: what takes the place of ATTENDEE_MARK."""
    if partstat not in ("NEEDS-ACTION", "ACCEPTED", "DECLINED"):
        raise ValueError(f"unsupported PARTSTAT {partstat!r}")
    address = icalendar.vCalAddress(mailto(email))
    address.params["CN"] = _param_text(name)
    address.params["ROLE"] = "REQ-PARTICIPANT"
    address.params["PARTSTAT"] = partstat
    # registration (of an event, of each meeting of a series) happens on the web page: a calendar "accept"
    # must not look like one
    address.params["RSVP"] = "FALSE"
    line: bytes = Contentline.from_parts("ATTENDEE", address.params, address, sorted=False).to_ical()
    return line + b"\r\n"


def mailto(address: str) -> str:
    """A mailto: URI (RFC 6068): the domain in IDNA form, a non-ASCII local part percent-encoded."""
    ascii_addr, _ = ascii_address(address)
    local, _, domain = ascii_addr.rpartition("@")
    return f"mailto:{quote(local, safe=_LOCAL_SAFE)}@{domain}"


def _param_text(value: str) -> str:
    """A parameter value may not hold DQUOTE or control characters (RFC 5545 3.1); names never need them."""
    return "".join(" " if ord(c) < 32 or c == "\x7f" else ("'" if c == '"' else c) for c in value).strip()
