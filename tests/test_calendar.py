"""Calendar invites checked with vobject, an independent parser, and against RFC 5545's octet rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import vobject

from eventkit.calendar import CalendarEvent, Invite, vtimezone

BERLIN = ZoneInfo("Europe/Berlin")


def make_event(start: datetime, **kw: object) -> CalendarEvent:
    base = dict(
        uid="fachvernetzung-2025-gifhorn@events.example.org",
        sequence=0,
        summary="Fachvernetzung 2025; Gifhorn, \\ „Hass im Amt“",
        start=start,
        end=start + timedelta(hours=5),
        timezone="Europe/Berlin",
        organiser_name='Queeres Netzwerk "Gifhorn" e.V.',
        organiser_email="info@example.org",
        location="Rathaus, Marktplatz 1, 38518 Gifhorn",
        description="Tagesordnung:\n12:00 Vorstellungsrunde; Begrüßung\n" + "Привет, мир! مرحبا " * 12,
        url="https://events.example.org/e/fachvernetzung-2025-gifhorn",
    )
    base.update(kw)
    return CalendarEvent(**base)  # type: ignore[arg-type]


def unfolded_lines(data: bytes) -> list[bytes]:
    return data.replace(b"\r\n ", b"").split(b"\r\n")


def test_every_physical_line_is_at_most_75_octets_and_valid_utf8() -> None:
    ics = Invite(make_event(datetime(2025, 11, 22, 12, tzinfo=BERLIN))).for_attendee(
        "Дмитрий Иванов-Müller " * 4, "d@example.org"
    )
    assert ics.endswith(b"\r\n")
    for line in ics.split(b"\r\n"):
        assert len(line) <= 75, line
        line.decode("utf-8")  # a fold never splits a UTF-8 sequence: each physical line decodes on its own


@pytest.mark.parametrize(
    ("start", "offset"),
    [
        (datetime(2025, 7, 5, 10, 0, tzinfo=BERLIN), timedelta(hours=2)),  # summer time
        (datetime(2025, 11, 22, 12, 0, tzinfo=BERLIN), timedelta(hours=1)),  # winter time
    ],
)
def test_second_parser_reads_the_right_utc_time(start: datetime, offset: timedelta) -> None:
    ics = Invite(make_event(start)).for_attendee("محمد الأحمد", "m@example.org")
    cal = vobject.readOne(ics.decode("utf-8"))
    dtstart = cal.vevent.dtstart.value
    # vobject builds its tzinfo from our VTIMEZONE, so this checks the VTIMEZONE's rules, not zoneinfo's
    assert dtstart.utcoffset() == offset
    assert dtstart.astimezone(UTC) == start.astimezone(UTC)
    assert cal.vevent.dtend.value.astimezone(UTC) == (start + timedelta(hours=5)).astimezone(UTC)


def test_request_has_method_uid_sequence_organizer_and_the_attendee() -> None:
    event = make_event(datetime(2025, 11, 22, 12, tzinfo=BERLIN), sequence=3)
    ics = Invite(event, "REQUEST").for_attendee("Дмитрий Иванов", "dmitri@example.org")
    cal = vobject.readOne(ics.decode("utf-8"))
    assert cal.method.value == "REQUEST"
    assert cal.vevent.uid.value == event.uid
    assert cal.vevent.sequence.value == "3"
    assert cal.vevent.organizer.value == "mailto:info@example.org"
    attendees = cal.vevent.contents["attendee"]
    assert len(attendees) == 1
    assert attendees[0].value == "mailto:dmitri@example.org"
    assert attendees[0].params["CN"] == ["Дмитрий Иванов"]
    assert cal.vevent.summary.value == event.summary  # ; , \ escaped and unescaped again
    assert cal.vevent.description.value == event.description
    assert cal.vevent.location.value == event.location
    assert cal.vtimezone.tzid.value == "Europe/Berlin"


def test_each_recipient_gets_only_their_own_attendee_line() -> None:
    invite = Invite(make_event(datetime(2025, 11, 22, 12, tzinfo=BERLIN)))
    first = invite.for_attendee("Ayşe Yılmaz", "ayse@example.org")
    second = invite.for_attendee("Olena Kovalenko", "olena@example.org")
    assert b"ayse@example.org" in first and b"olena@example.org" not in first
    assert b"olena@example.org" in second and b"ayse@example.org" not in second
    assert vobject.readOne(second.decode()).vevent.uid.value == vobject.readOne(first.decode()).vevent.uid.value


def test_a_name_cannot_inject_properties() -> None:
    ics = Invite(make_event(datetime(2025, 11, 22, 12, tzinfo=BERLIN))).for_attendee(
        'Eve"\r\nATTENDEE:mailto:evil@example.net', "eve@example.org"
    )
    lines = unfolded_lines(ics)
    assert not any(line.startswith(b"ATTENDEE:mailto:evil") for line in lines)
    assert sum(line.startswith(b"ATTENDEE") for line in lines) == 1


def test_cancel_marks_the_event_cancelled() -> None:
    ics = Invite(make_event(datetime(2025, 11, 22, 12, tzinfo=BERLIN), sequence=1), "CANCEL").for_attendee(
        "A", "a@example.org"
    )
    cal = vobject.readOne(ics.decode())
    assert cal.method.value == "CANCEL"
    assert cal.vevent.status.value == "CANCELLED"


def test_vtimezone_onsets_are_local_times_before_the_change() -> None:
    # RFC 5545 3.6.5: DTSTART of an observance is given in the offset in force before it (TZOFFSETFROM)
    tz = vtimezone("Europe/Berlin", datetime(2025, 1, 1).date(), datetime(2025, 12, 31).date())
    text = tz.to_ical().decode()
    assert "DTSTART:20240331T020000" in text  # clocks go from 02:00 CET to 03:00 CEST
    assert "DTSTART:20241027T030000" in text  # and from 03:00 CEST back to 02:00 CET


def test_zone_without_daylight_saving() -> None:
    start = datetime(2025, 7, 1, 9, tzinfo=ZoneInfo("Europe/Istanbul"))
    ics = Invite(make_event(start, timezone="Europe/Istanbul")).for_attendee("A", "a@example.org")
    cal = vobject.readOne(ics.decode())
    assert cal.vevent.dtstart.value.utcoffset() == timedelta(hours=3)
