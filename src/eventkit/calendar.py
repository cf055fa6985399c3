"""iCalendar invites (RFC 5545/5546): one stable UID per event, a VTIMEZONE, one ATTENDEE per recipient."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from urllib.parse import quote
from zoneinfo import ZoneInfo

import icalendar
from icalendar.parser import Contentline

from eventkit.mime import ascii_address

PRODID = "-//eventkit//eventkit 0.1//DE"
_LOCAL_SAFE = "!$&'*+-=^_`{|}~."
_ATTENDEE_MARK = b"ATTENDEE:mailto:attendee@eventkit.invalid\r\n"


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


def _fmt_offset(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}{minutes % 60:02d}"


@lru_cache(maxsize=64)
def vtimezone(tzid: str, first: date, last: date) -> icalendar.Timezone:
    """A VTIMEZONE whose observances cover first..last with a year's margin either side.

    Each onset's DTSTART is the local time before the change (in TZOFFSETFROM), as RFC 5545 3.6.5 says.
    """
    tz = ZoneInfo(tzid)
    window_start = datetime(first.year - 1, 1, 1, tzinfo=UTC)
    window_end = datetime(last.year + 2, 1, 1, tzinfo=UTC)
    comp = icalendar.Timezone()
    comp.add("tzid", tzid)
    changes = _transitions(tz, window_start, window_end)
    if not changes:
        offset, _dst, name = _offsets(tz, window_start)
        sub = icalendar.TimezoneStandard()
        sub.add("dtstart", datetime(1970, 1, 1))
        sub.add("tzoffsetfrom", offset)
        sub.add("tzoffsetto", offset)
        sub.add("tzname", name)
        comp.add_component(sub)
        return comp
    groups: dict[tuple[timedelta, timedelta, timedelta, str], list[datetime]] = {}
    for instant in changes:
        before = _offsets(tz, instant - timedelta(seconds=1))
        after = _offsets(tz, instant)
        onset_local = (instant + before[0]).replace(tzinfo=None)
        groups.setdefault((before[0], after[0], after[1], after[2]), []).append(onset_local)
    for (off_from, off_to, dst, name), onsets in groups.items():
        observance: icalendar.TimezoneDaylight | icalendar.TimezoneStandard = (
            icalendar.TimezoneDaylight() if dst else icalendar.TimezoneStandard()
        )
        observance.add("dtstart", onsets[0])
        for extra in onsets[1:]:
            observance.add("rdate", extra)
        observance.add("tzoffsetfrom", off_from)
        observance.add("tzoffsetto", off_to)
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
        cal.add_component(vtimezone(event.timezone, event.start.date(), event.end.date()))
        vevent = icalendar.Event()
        vevent.add("uid", event.uid)
        vevent.add("sequence", event.sequence)
        vevent.add("dtstamp", (dtstamp or datetime.now(UTC)).replace(microsecond=0))
        if event.last_modified:
            vevent.add("last-modified", event.last_modified.astimezone(UTC).replace(microsecond=0))
        vevent.add("dtstart", event.start)
        vevent.add("dtend", event.end)
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
        vevent.add("attendee", "mailto:attendee@eventkit.invalid")
        cal.add_component(vevent)
        data = cal.to_ical()
        if _ATTENDEE_MARK not in data:
            raise RuntimeError("icalendar did not keep the attendee placeholder on one line")
        head, tail = data.split(_ATTENDEE_MARK)
        self._head: bytes = head
        self._tail: bytes = tail

    def for_attendee(self, name: str, email: str) -> bytes:
        address = icalendar.vCalAddress(mailto(email))
        address.params["CN"] = _param_text(name)
        address.params["ROLE"] = "REQ-PARTICIPANT"
        address.params["PARTSTAT"] = "NEEDS-ACTION"
        # registration happens on the web page: a calendar "accept" must not look like a registration
        address.params["RSVP"] = "FALSE"
        line: bytes = Contentline.from_parts("ATTENDEE", address.params, address, sorted=False).to_ical()
        return self._head + line + b"\r\n" + self._tail


def mailto(address: str) -> str:
    """A mailto: URI (RFC 6068): the domain in IDNA form, a non-ASCII local part percent-encoded."""
    ascii_addr, _ = ascii_address(address)
    local, _, domain = ascii_addr.rpartition("@")
    return f"mailto:{quote(local, safe=_LOCAL_SAFE)}@{domain}"


def _param_text(value: str) -> str:
    """A parameter value may not hold DQUOTE or control characters (RFC 5545 3.1); names never need them."""
    return "".join(" " if ord(c) < 32 or c == "\x7f" else ("'" if c == '"' else c) for c in value).strip()
