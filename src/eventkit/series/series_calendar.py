"""A series' calendar (RFC 5545/5546): the master VEVENT with RRULE and EXDATE, an override per moved meeting."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import icalendar

from eventkit.mail.ical import (
    ATTENDEE_MARK,
    ATTENDEE_PLACEHOLDER,
    PRODID,
    Invite,
    _param_text,
    attendee_line,
    mailto,
    vtimezone,
)
from eventkit.model.series import Series, occurrences
from eventkit.model.spec import Venue


@dataclass(frozen=True)
class SeriesFacts:
    """What the calendar says besides the rule: public facts only, never a personal link."""

    uid: str
    sequence: int
    description: str = ""
    url: str | None = None


def _location(venue: Venue | None, online_url: str | None) -> str:
    if venue:
        return ", ".join([venue.name] + ([venue.address] if venue.address else []))
    return online_url or ""


class SeriesInvite(Invite):
    """Like calendar.Invite, for a calendar of several VEVENTs: each recipient is the ATTENDEE of every one.

    `only` limits it to the overrides (REQUEST) or cancelled instances (CANCEL) of those rule dates, which is
    how RFC 5546 3.2.2 and 3.2.5 change one meeting of a series without touching the others.

    `meeting_sequences` gives, per rule date, the SEQUENCE of the meeting as an event (once it is one): an
    override's SEQUENCE is the series' plus the meeting's, as in every other calendar object about that
    meeting (eventkit.events.series_ref), so that the newest version of an instance always outranks the older ones.
    """

    def __init__(
        self,
        series: Series,
        facts: SeriesFacts,
        method: str = "REQUEST",
        *,
        only: Sequence[date] | None = None,
        dtstamp: datetime | None = None,
        meeting_sequences: Mapping[date, int] | None = None,
    ):
        if method not in ("REQUEST", "CANCEL", "PUBLISH"):
            raise ValueError(f"unsupported iTIP method {method!r}")
        if method == "CANCEL" and not only:
            raise ValueError("a series is cancelled one meeting at a time here: give `only`")
        self.method = method
        stamp = (dtstamp or datetime.now(UTC)).replace(microsecond=0)
        template = series.template
        cal = icalendar.Calendar()
        cal.add("prodid", PRODID)
        cal.add("version", "2.0")
        cal.add("calscale", "GREGORIAN")
        cal.add("method", method)
        cal.add_component(vtimezone(template.timezone))
        everything = occurrences(series, include_skipped=True)

        def vevent(start: datetime, end: datetime, venue: Venue | None, extra: int = 0) -> icalendar.Event:
            ev = icalendar.Event()
            ev.add("uid", facts.uid)
            ev.add("sequence", facts.sequence + extra)
            ev.add("dtstamp", stamp)
            ev.add("dtstart", start)
            ev.add("dtend", end)
            ev.add("summary", template.title)
            location = _location(venue, template.online_url)
            if location:
                ev.add("location", location)
            if facts.description:
                ev.add("description", facts.description)
            if facts.url:
                ev.add("url", facts.url)
            ev.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
            ev.add("transp", "OPAQUE")
            ev.add("class", "PUBLIC")
            organizer = icalendar.vCalAddress(mailto(template.organiser.email))
            organizer.params["CN"] = _param_text(template.organiser.name)
            ev.add("organizer", organizer)
            if method != "PUBLISH":
                ev.add("attendee", ATTENDEE_PLACEHOLDER)
            return ev

        if only is None:
            master = vevent(template.start, template.end, template.venue)
            master.add("rrule", _recur(series))
            skipped = [o.recurrence_id for o in everything if o.skipped]
            if skipped:
                master.add("exdate", skipped)
            cal.add_component(master)
            chosen = [o for o in everything if o.moved and not o.skipped]
        else:
            wanted = set(only)
            chosen = [o for o in everything if o.recurrence_id.date() in wanted]
            if len(chosen) != len(wanted):
                raise ValueError("only: not every date is a date of the series")
        for occ in chosen:
            ev = vevent(occ.start, occ.end, occ.venue, (meeting_sequences or {}).get(occ.recurrence_id.date(), 0))
            ev.add("recurrence-id", occ.recurrence_id)
            cal.add_component(ev)
        data: bytes = cal.to_ical()
        if method != "PUBLISH" and data.count(ATTENDEE_MARK) != len(cal.walk("VEVENT")):
            raise RuntimeError("icalendar did not keep the attendee placeholder on one line")
        self._data = data

    def without_attendee(self) -> bytes:
        return self._data.replace(ATTENDEE_MARK, b"")

    def for_attendee(self, name: str, email: str, partstat: str = "NEEDS-ACTION") -> bytes:
        return self._data.replace(ATTENDEE_MARK, attendee_line(name, email, partstat))


def _recur(series: Series) -> icalendar.vRecur:
    """The RRULE; UNTIL in UTC, as RFC 5545 3.3.10 requires with a DTSTART in a time zone."""
    parts: dict[str, object] = {}
    for piece in series.rrule.split(";"):
        key, _, value = piece.partition("=")
        parts[key] = value
    recur: icalendar.vRecur = icalendar.vRecur.from_ical(";".join(f"{k}={v}" for k, v in parts.items()))
    if series.until is not None:
        recur["UNTIL"] = [series.until.astimezone(UTC).replace(microsecond=0)]
    return recur
