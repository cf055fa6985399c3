"""Calendar invites checked with vobject, an independent parser, and against RFC 5545's octet rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import vobject

from eventkit.mail.ical import CalendarEvent, Invite, vtimezone

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
    text = vtimezone("Europe/Berlin").to_ical().decode()
    assert "DTSTART:19960331T020000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3" in text  # 02:00 CET -> 03:00 CEST
    assert "DTSTART:19961027T030000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10" in text  # 03:00 CEST -> 02:00 CET


def test_every_event_in_a_zone_carries_the_same_vtimezone() -> None:
    # clients cache time zones by TZID: a component that varied with the event would confuse them
    a = Invite(make_event(datetime(2025, 7, 5, 10, tzinfo=BERLIN))).for_attendee("A", "a@example.org")
    b = Invite(make_event(datetime(2031, 1, 9, 10, tzinfo=BERLIN))).for_attendee("A", "a@example.org")

    def block(ics: bytes) -> bytes:
        return ics[ics.index(b"BEGIN:VTIMEZONE") : ics.index(b"END:VTIMEZONE")]

    assert block(a) == block(b)


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Europe/Kyiv", "UTC"])
def test_vtimezone_agrees_with_the_tz_database_for_decades(zone: str) -> None:
    cal = vobject.readOne(
        Invite(make_event(datetime(2026, 5, 1, 10, tzinfo=ZoneInfo(zone)), timezone=zone))
        .for_attendee("A", "a@example.org")
        .decode()
    )
    theirs = cal.vevent.dtstart.value.tzinfo  # vobject's tzinfo, built from our VTIMEZONE alone
    ours = ZoneInfo(zone)
    # the component describes the current rules (New York's since 2007, Sydney's since 2008): enough for
    # invitations, which are about coming events
    for year in range(2010, 2041):
        for month in range(1, 13):
            moment = datetime(year, month, 15, 12, 0)
            assert moment.replace(tzinfo=theirs).utcoffset() == moment.replace(tzinfo=ours).utcoffset(), moment


def test_zone_without_daylight_saving() -> None:
    start = datetime(2025, 7, 1, 9, tzinfo=ZoneInfo("Europe/Istanbul"))
    ics = Invite(make_event(start, timezone="Europe/Istanbul")).for_attendee("A", "a@example.org")
    cal = vobject.readOne(ics.decode())
    assert cal.vevent.dtstart.value.utcoffset() == timedelta(hours=3)
