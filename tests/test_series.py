"""Recurring meetings: the series file, its expansion, its calendar (checked by icalendar, recurring-ical-events
and vobject), updates of one meeting, and the meetings as events."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
import vobject
from sqlalchemy import func, select

from eventkit import runtime
from eventkit.core.settings import Settings
from eventkit.core.validation import ValidationFailed
from eventkit.db.store import Event, Invitation, OutboxMessage, Person, Registration
from eventkit.events.changes import UPDATED, enqueue_change, previous_of
from eventkit.events.events import save_event
from eventkit.events.series_ref import INVITATION, state_path
from eventkit.invitations.invitations import import_invitees, plan_batches, prepare_batch
from eventkit.mail import kinds
from eventkit.model.invitees import Invitee
from eventkit.model.registration_form import RegistrationInput
from eventkit.model.series import occurrences, rhythm
from eventkit.model.series_file import load_series, parse_series
from eventkit.model.spec import EventSpec
from eventkit.privacy import retention
from eventkit.privacy.privacy import export_person, forget_person
from eventkit.registration import cancellation, desk, rules
from eventkit.series.emails import UPDATE, enqueue_invitations, enqueue_updates
from eventkit.series.meetings import apply_to_meetings, create_meetings
from eventkit.series.members import forget_member, memberships, purge_members
from eventkit.series.series_calendar import SeriesFacts, SeriesInvite
from eventkit.series.stored import load_stored, store_series
from tests.conftest import EXAMPLES, TEMPLATES

BERLIN = ZoneInfo("Europe/Berlin")
EXAMPLE = EXAMPLES / "series" / "plenum-buendnis.yaml"
# the rule's dates of the example (every 3 months on the second Wednesday, 2027-01-13 to 2028-12-31)
RULE_DATES = [
    date(2027, 1, 13), date(2027, 4, 14), date(2027, 7, 14), date(2027, 10, 13),
    date(2028, 1, 12), date(2028, 4, 12), date(2028, 7, 12), date(2028, 10, 11),
]  # fmt: skip
SKIPPED = date(2027, 7, 14)
MOVED_FROM, MOVED_TO = date(2027, 10, 13), datetime(2027, 10, 20, 18, 0, tzinfo=BERLIN)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # a fixed "now" before the first meeting


def expected_starts() -> list[datetime]:
    out = []
    for day in RULE_DATES:
        if day == SKIPPED:
            continue
        out.append(MOVED_TO if day == MOVED_FROM else datetime(day.year, day.month, day.day, 18, 0, tzinfo=BERLIN))
    return out


def series_text(**replace: str) -> str:
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def parse(text: str):  # type: ignore[no-untyped-def]
    return parse_series(text, TEMPLATES, source="plenum.yaml", base_dir=EXAMPLE.parent)


def full_calendar(series, sequence: int = 0) -> icalendar.Calendar:  # type: ignore[no-untyped-def]
    invite = SeriesInvite(series, SeriesFacts("series-plenum@example.org", sequence))
    return icalendar.Calendar.from_ical(invite.for_attendee("Sabine Krüger", "beirat@example.org"))


def expand(cal: icalendar.Calendar) -> list[datetime]:
    found = recurring_ical_events.of(cal).between(datetime(2026, 1, 1), datetime(2030, 1, 1))
    return sorted(e["DTSTART"].dt for e in found)


# --- the series file -----------------------------------------------------------------------------------


def test_example_expands_to_its_meetings_with_the_exceptions() -> None:
    series = load_series(EXAMPLE, TEMPLATES)
    assert series.slug == "plenum-buendnis-zwickau"
    assert [o.recurrence_id.date() for o in occurrences(series, include_skipped=True)] == RULE_DATES
    meetings = occurrences(series)
    assert [o.start for o in meetings] == expected_starts()
    assert [o.slug for o in meetings][:3] == [
        "plenum-buendnis-zwickau-2027-01-13",
        "plenum-buendnis-zwickau-2027-04-14",
        "plenum-buendnis-zwickau-2027-10-13",  # a moved meeting keeps the slug of its rule date
    ]
    moved = next(o for o in meetings if o.moved)
    assert moved.venue is not None and moved.venue.name == "Soziokulturelles Zentrum, Saal"
    assert moved.end == MOVED_TO + timedelta(hours=2, minutes=30)
    assert len(series.members) == 5
    assert rhythm(series, "de") == "alle 3 Monate am zweiten Mittwoch"
    assert rhythm(series, "en") == "every 3 months on the second Wednesday"


def test_wall_clock_time_stays_across_summer_and_winter_time() -> None:
    meetings = occurrences(load_series(EXAMPLE, TEMPLATES))
    january, april = meetings[0].start, meetings[1].start
    assert (january.hour, april.hour) == (18, 18)
    assert january.utcoffset() == timedelta(hours=1) and april.utcoffset() == timedelta(hours=2)
    assert january.astimezone(UTC).hour == 17 and april.astimezone(UTC).hour == 16


@pytest.mark.parametrize(
    ("replace", "field", "words"),
    [
        ({"rrule: FREQ=MONTHLY;INTERVAL=3;BYDAY=2WE": "rrule: FREQ=SOMETIMES"}, "rrule", "FREQ"),
        ({"rrule: FREQ=MONTHLY;INTERVAL=3;BYDAY=2WE": "rrule: FREQ=MONTHLY;BYDAY=9XX"}, "rrule", "not a valid RRULE"),
        ({"rrule: FREQ=MONTHLY;INTERVAL=3;BYDAY=2WE": "rrule: FREQ=MONTHLY;BYDAY"}, "rrule", "NAME=VALUE"),
        ({"rrule: FREQ=MONTHLY;INTERVAL=3;BYDAY=2WE": "rrule: FREQ=MONTHLY;COUNT=3;UNTIL=20281231"}, "rrule", "COUNT"),
        ({"skip: [2027-07-14]": "skip: [2027-07-15]"}, "exceptions.skip[0]", "not a date of the series"),
        ({"- date: 2027-10-13": "- date: 2027-10-12"}, "exceptions.moved[0].date", "not a date of the series"),
        ({"start: 2027-01-13T18:00": "start: 2027-01-12T18:00"}, "start", "must be a date of the rule"),
        ({"until: 2028-12-31": "until: sometime"}, "until", "not a date"),
        ({"members: plenum-buendnis-members.csv": "members: missing.csv"}, "members", "cannot read"),
    ],
)
def test_bad_series_files_are_refused_naming_file_line_and_field(
    replace: dict[str, str], field: str, words: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse(series_text(**replace))
    problems = caught.value.problems
    hit = next((p for p in problems if p.field == field and words in p.render("en")), None)
    assert hit is not None, caught.value.render("en")
    if field == "members":  # a problem of the members' list names that file
        assert hit.source is not None and hit.source.endswith("missing.csv")
    else:
        assert hit.source == "plenum.yaml" and hit.line
    assert caught.value.render("de")  # German by default, English on request


def test_a_skipped_date_is_reported_in_german_with_its_line() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse(series_text(**{"skip: [2027-07-14]": "skip: [2027-07-15]"}))
    line = series_text().splitlines().index("  skip: [2027-07-14]") + 1
    assert f"plenum.yaml:{line}: exceptions.skip[0]: 2027-07-15 ist kein Termin der Reihe" in caught.value.render("de")


# --- the calendar --------------------------------------------------------------------------------------


def test_series_calendar_expands_to_the_expected_meetings() -> None:
    series = load_series(EXAMPLE, TEMPLATES)
    cal = full_calendar(series)
    assert cal["METHOD"] == "REQUEST"
    events = cal.walk("VEVENT")
    assert len(events) == 2  # the master and the override of the moved meeting
    master = next(e for e in events if "RECURRENCE-ID" not in e)
    assert master["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert "UNTIL=20281231T225959Z" in master["RRULE"].to_ical().decode()
    assert [d.dt for d in master["EXDATE"].dts] == [datetime(2027, 7, 14, 18, 0, tzinfo=BERLIN)]
    override = next(e for e in events if "RECURRENCE-ID" in e)
    assert override["RECURRENCE-ID"].dt == datetime(2027, 10, 13, 18, 0, tzinfo=BERLIN)
    assert {e["UID"] for e in events} == {"series-plenum@example.org"}
    assert all(str(e["ATTENDEE"]) == "mailto:beirat@example.org" for e in events)
    assert cal.walk("VTIMEZONE")
    starts = expand(cal)
    assert starts == expected_starts()
    # summer and winter time: the same wall-clock time, another UTC offset
    assert {s.astimezone(BERLIN).hour for s in starts} == {18}
    assert {s.utcoffset() for s in starts} == {timedelta(hours=1), timedelta(hours=2)}


def test_vobject_reads_the_series_with_its_own_time_zone() -> None:
    series = load_series(EXAMPLE, TEMPLATES)
    ics = SeriesInvite(series, SeriesFacts("series-plenum@example.org", 0)).for_attendee("A", "a@example.org")
    cal = vobject.readOne(ics.decode("utf-8"))
    master = next(v for v in cal.vevent_list if not hasattr(v, "recurrence_id"))
    starts = list(master.getrruleset(addRDate=True))
    # vobject applies RRULE and EXDATE (not the override), with the tzinfo it built from our VTIMEZONE
    assert [s.date() for s in starts] == [d for d in RULE_DATES if d != SKIPPED]
    assert [s.utcoffset() for s in starts[:2]] == [timedelta(hours=1), timedelta(hours=2)]
    override = next(v for v in cal.vevent_list if hasattr(v, "recurrence_id"))
    assert override.dtstart.value.replace(tzinfo=None) == MOVED_TO.replace(tzinfo=None)


def apply_update(original: icalendar.Calendar, update: icalendar.Calendar) -> icalendar.Calendar:
    """What a calendar client does with an iTIP message for one instance (RFC 5546 3.2.2, 3.2.5)."""
    method = str(update["METHOD"])
    cal = icalendar.Calendar.from_ical(original.to_ical())
    for instance in update.walk("VEVENT"):
        rid = instance["RECURRENCE-ID"].dt
        kept = [
            c
            for c in cal.subcomponents
            if not (c.name == "VEVENT" and "RECURRENCE-ID" in c and c["RECURRENCE-ID"].dt == rid)
        ]
        cal.subcomponents = kept
        if method == "REQUEST":
            cal.add_component(instance)
        else:
            master = next(c for c in cal.walk("VEVENT") if "RECURRENCE-ID" not in c)
            master.add("exdate", rid)
    return cal


def test_a_moved_meeting_updates_only_that_meeting() -> None:
    before = parse(series_text())
    second = "    - {date: 2028-04-12, start: 2028-04-19T17:00}\nvenue:\n  name: Rathaus Zwickau"
    after = parse(series_text(**{"venue:\n  name: Rathaus Zwickau": second}))
    assert [m.original for m in after.moved] == [date(2027, 10, 13), date(2028, 4, 12)]
    update = SeriesInvite(after, SeriesFacts("series-plenum@example.org", 1), "REQUEST", only=[date(2028, 4, 12)])
    parsed = icalendar.Calendar.from_ical(update.for_attendee("A", "a@example.org"))
    instances = parsed.walk("VEVENT")
    assert len(instances) == 1 and "RRULE" not in instances[0]
    assert instances[0]["RECURRENCE-ID"].dt == datetime(2028, 4, 12, 18, 0, tzinfo=BERLIN)
    assert instances[0]["DTSTART"].dt == datetime(2028, 4, 19, 17, 0, tzinfo=BERLIN)
    assert instances[0]["SEQUENCE"] == 1
    original = full_calendar(before)
    result = expand(apply_update(original, parsed))
    old = expand(original)
    changed = [s for s in result if s not in old]
    assert changed == [datetime(2028, 4, 19, 17, 0, tzinfo=BERLIN)]
    assert [s for s in old if s not in result] == [datetime(2028, 4, 12, 18, 0, tzinfo=BERLIN)]
    assert len(result) == len(old)  # every other meeting untouched


def test_a_skipped_meeting_is_cancelled_alone() -> None:
    before = parse(series_text())
    after = parse(series_text(**{"skip: [2027-07-14]": "skip: [2027-07-14, 2028-01-12]"}))
    cancel = SeriesInvite(after, SeriesFacts("series-plenum@example.org", 1), "CANCEL", only=[date(2028, 1, 12)])
    parsed = icalendar.Calendar.from_ical(cancel.for_attendee("A", "a@example.org"))
    assert parsed["METHOD"] == "CANCEL"
    (instance,) = parsed.walk("VEVENT")
    assert instance["STATUS"] == "CANCELLED" and instance["RECURRENCE-ID"].dt.date() == date(2028, 1, 12)
    old = expand(full_calendar(before))
    result = expand(apply_update(full_calendar(before), parsed))
    assert [s for s in old if s not in result] == [datetime(2028, 1, 12, 18, 0, tzinfo=BERLIN)]
    assert len(result) == len(old) - 1


# --- stored series, meetings as events, emails ----------------------------------------------------------


@pytest.fixture
def rt(settings: Settings) -> Iterator[runtime.Runtime]:
    configured = runtime.configure(settings)
    yield configured
    configured.store.dispose()


def test_meetings_become_events_with_their_own_slugs_once(rt: runtime.Runtime) -> None:
    series = load_series(EXAMPLE, TEMPLATES)
    assert store_series(rt.settings, series).created
    created = create_meetings(rt, series.slug, now=NOW, horizon=timedelta(days=200))
    assert created == ["plenum-buendnis-zwickau-2027-01-13", "plenum-buendnis-zwickau-2027-04-14"]
    assert create_meetings(rt, series.slug, now=NOW, horizon=timedelta(days=200)) == []
    with rt.store.session() as session:
        events = {e.slug: e for e in session.scalars(select(Event))}
        assert set(events) == set(created)
        spring = events["plenum-buendnis-zwickau-2027-04-14"]
        assert spring.starts_at == datetime(2027, 4, 14, 16, 0, tzinfo=UTC)
        assert spring.spec["extra"]["series"] == {
            "slug": "plenum-buendnis-zwickau",
            "recurrence_id": "2027-04-14T18:00:00+02:00",
        }
        assert spring.spec["registration_deadline"] == "2027-04-12T23:59:00+02:00"
        assert spring.spec["agenda"][0]["start"] == "2027-04-14T18:00:00+02:00"
        assert session.scalar(select(func.count()).select_from(Invitation)) == 2 * 5
    # the next stretch brings the moved meeting (under its rule date's slug, at its new time), not the skipped one
    later = create_meetings(rt, series.slug, now=NOW + timedelta(days=200), horizon=timedelta(days=200))
    assert later == ["plenum-buendnis-zwickau-2027-10-13"]
    with rt.store.session() as session:
        moved = session.scalar(select(Event).where(Event.slug == later[0]))
        assert moved is not None and moved.starts_at == MOVED_TO.astimezone(UTC)


def calendar_of(raw: bytes) -> tuple[str, icalendar.Calendar]:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")  # type: ignore[attr-defined]
    text = part.get_content()
    return str(part.get_param("method")), icalendar.Calendar.from_ical(text)


def test_members_get_the_series_invitation_and_then_only_the_update(rt: runtime.Runtime) -> None:
    series = load_series(EXAMPLE, TEMPLATES)
    store_series(rt.settings, series)
    assert enqueue_invitations(rt, series.slug, now=NOW) == 5
    assert enqueue_invitations(rt, series.slug, now=NOW) == 0  # once per member
    with rt.store.session() as session:
        rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == INVITATION)))
        first = next(r for r in rows if r.recipient == "beirat@buendnis-zwickau.example.org")
        method, cal = calendar_of(first.raw)
        body = email.message_from_bytes(first.raw, policy=email.policy.default)
        text = body.get_body(("plain",)).get_content()  # type: ignore[attr-defined]
    assert method == "REQUEST" and cal["METHOD"] == "REQUEST"
    assert expand(cal) == expected_starts()
    assert "alle 3 Monate am zweiten Mittwoch" in text and "Mittwoch, 14. April 2027" in text
    assert "14. Juli 2027: kein Treffen" in text
    assert "Einladung zur Terminreihe" in first.subject

    moved = series_text(**{"start: 2027-10-20T18:00": "start: 2027-10-21T17:00"})
    change = store_series(rt.settings, parse(moved))
    assert change.moved == (MOVED_FROM,) and change.sequence == 1 and not change.full
    assert enqueue_updates(rt, change, now=NOW) == 5
    with rt.store.session() as session:
        updates = list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == UPDATE)))
    method, cal = calendar_of(updates[0].raw)
    (instance,) = cal.walk("VEVENT")
    assert method == "REQUEST" and instance["SEQUENCE"] == 1
    assert instance["DTSTART"].dt == datetime(2027, 10, 21, 17, 0, tzinfo=BERLIN)
    assert load_stored(rt.settings, series.slug).sequence == 1
    assert enqueue_updates(rt, change, now=NOW) == 0


# --- a meeting in the members' calendars ---------------------------------------------------------------

FIRST_MEETING = "plenum-buendnis-zwickau-2027-01-13"
FIRST_RID = datetime(2027, 1, 13, 18, 0, tzinfo=BERLIN)
GUEST = "gast@verein-werdau.example.org"


class Client:
    """What a calendar client keeps of the iTIP messages it is given (RFC 5546): entries by UID; a message
    for one instance (RECURRENCE-ID) of an entry it holds changes that instance and no other, and only if
    its SEQUENCE is not older than the instance's; a REQUEST with the series itself (no RECURRENCE-ID) replaces
    the whole entry, its instances with it (RFC 5546 3.2.2: the organiser sends the whole recurrence set); a
    message with an unknown UID becomes an entry of its own."""

    def __init__(self) -> None:
        self.entries: dict[str, list[icalendar.Event]] = {}
        self.timezones: dict[str, icalendar.Timezone] = {}

    def receive(self, cal: icalendar.Calendar) -> None:
        for tz in cal.walk("VTIMEZONE"):
            self.timezones[str(tz["TZID"])] = tz
        method = str(cal["METHOD"])
        for ev in cal.walk("VEVENT"):
            uid = str(ev["UID"])
            rid = ev["RECURRENCE-ID"].dt if "RECURRENCE-ID" in ev else None
            held = self.entries.setdefault(uid, [])
            if rid is None and method == "REQUEST":
                mine = [c for c in held if "RECURRENCE-ID" not in c]
                if mine and int(mine[0]["SEQUENCE"]) > int(ev["SEQUENCE"]):
                    continue
                held[:] = [c for c in cal.walk("VEVENT") if str(c["UID"]) == uid]
                break
            same = [c for c in held if (c["RECURRENCE-ID"].dt if "RECURRENCE-ID" in c else None) == rid]
            if same and int(same[0]["SEQUENCE"]) > int(ev["SEQUENCE"]):
                continue  # an older version than the one held
            held[:] = [c for c in held if c not in same]
            if method == "CANCEL" and rid is not None:
                master = next(c for c in held if "RECURRENCE-ID" not in c)
                master.add("exdate", rid)
            elif method != "CANCEL":
                held.append(ev)

    def on(self, day: date) -> list[icalendar.Event]:
        cal = icalendar.Calendar()
        cal.add("prodid", "-//test//client//")
        cal.add("version", "2.0")
        for tz in self.timezones.values():
            cal.add_component(tz)
        for components in self.entries.values():
            for c in components:
                cal.add_component(c)
        return list(recurring_ical_events.of(cal).at(day))


def outbox_calendar(rt: runtime.Runtime, recipient: str, kind: str) -> icalendar.Calendar:
    with rt.store.session() as session:
        (row,) = session.scalars(
            select(OutboxMessage).where(OutboxMessage.recipient == recipient, OutboxMessage.kind == kind)
        ).all()
        return calendar_of(row.raw)[1]


def invitation_token(rt: runtime.Runtime, slug: str, recipient: str) -> str:
    with rt.store.session() as session:
        raw = session.scalars(
            select(OutboxMessage.raw).where(OutboxMessage.recipient == recipient, OutboxMessage.kind == "invitation")
        ).one()
    text = email.message_from_bytes(raw, policy=email.policy.default).get_body(("plain",)).get_content()  # type: ignore[attr-defined]
    match = re.search(rf"/e/{slug}/register\?t=([A-Za-z0-9_\-]+)", text)
    assert match, text
    return match.group(1)


def render_all(rt: runtime.Runtime) -> None:
    with rt.store.session() as session:
        ids = list(session.scalars(select(OutboxMessage.id).where(OutboxMessage.raw.is_(None))))
    kinds.render_pending(rt, ids)


@pytest.fixture
def member_and_guest(rt: runtime.Runtime) -> tuple[str, str]:
    """The series stored, its invitation written, its first meetings made; a guest invited to the first
    meeting only; the first meeting's invitations written."""
    series = load_series(EXAMPLE, TEMPLATES)
    store_series(rt.settings, series)
    enqueue_invitations(rt, series.slug, now=NOW)
    create_meetings(rt, series.slug, now=NOW, horizon=timedelta(days=200))
    import_invitees(rt.store, FIRST_MEETING, [Invitee(GUEST, "Gast", "Verein Werdau", "de", 1)])
    for first, last in plan_batches(rt.store, FIRST_MEETING, 100):
        prepare_batch(rt.store, rt.settings, rt.renderer, FIRST_MEETING, first, last)
    return series.members[0].email, GUEST


def test_a_members_meeting_emails_change_their_series_entry_not_add_a_second(
    rt: runtime.Runtime, member_and_guest: tuple[str, str]
) -> None:
    member, guest = member_and_guest
    uid = load_stored(rt.settings, "plenum-buendnis-zwickau").uid
    client = Client()
    client.receive(outbox_calendar(rt, member, INVITATION))
    assert len(client.on(FIRST_RID.date())) == 1

    invitation = outbox_calendar(rt, member, "invitation")
    (instance,) = invitation.walk("VEVENT")
    assert str(instance["UID"]) == uid and instance["RECURRENCE-ID"].dt == FIRST_RID
    assert instance["SEQUENCE"] == 0 and "RRULE" not in instance
    client.receive(invitation)
    registered = desk.submit(
        rt,
        FIRST_MEETING,
        RegistrationInput("Sabine Krüger", member, None, "de", {}),
        invitation_token=invitation_token(rt, FIRST_MEETING, member),
        now=NOW,
    )
    assert registered.status == "registered"
    render_all(rt)
    confirmation = outbox_calendar(rt, member, "registration-confirmed")
    (instance,) = confirmation.walk("VEVENT")
    assert str(instance["UID"]) == uid and instance["RECURRENCE-ID"].dt == FIRST_RID
    assert instance["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
    client.receive(confirmation)

    (entry,) = client.on(FIRST_RID.date())  # one entry on that day, now the meeting's own, with its link
    assert f"/e/{FIRST_MEETING}" in str(entry["DESCRIPTION"])
    later = [d for d in RULE_DATES if d not in (SKIPPED, MOVED_FROM)]
    assert all(len(client.on(d)) == 1 for d in later)  # every other meeting as it was

    # the member cancels: that meeting leaves the calendar, the series stays
    cancellation.cancel(rt, FIRST_MEETING, rules.manage_token(rt, registered_row(rt, member)), now=NOW)
    render_all(rt)
    cancel = outbox_calendar(rt, member, "registration-cancelled")
    assert str(cancel["METHOD"]) == "CANCEL"
    client.receive(cancel)
    assert client.on(FIRST_RID.date()) == []
    assert all(len(client.on(d)) == 1 for d in later[1:])

    # the guest holds no series: theirs is the meeting's own entry
    (own,) = outbox_calendar(rt, guest, "invitation").walk("VEVENT")
    with rt.store.session() as session:
        event = session.scalars(select(Event).where(Event.slug == FIRST_MEETING)).one()
        assert str(own["UID"]) == event.uid != uid and "RECURRENCE-ID" not in own


def registered_row(rt: runtime.Runtime, email_address: str):  # type: ignore[no-untyped-def]
    with rt.store.session() as session:
        row = session.scalars(
            select(Registration).join(Person, Person.id == Registration.person_id).where(Person.email == email_address)
        ).one()
        session.expunge(row)
        return row


def test_a_series_change_keeps_what_was_changed_in_one_meeting_and_outranks_it(
    rt: runtime.Runtime, member_and_guest: tuple[str, str]
) -> None:
    member, _ = member_and_guest
    spring = "plenum-buendnis-zwickau-2027-04-14"
    with rt.store.session() as session:
        spec = EventSpec.from_data(session.scalars(select(Event).where(Event.slug == spring)).one().spec)
    own_agenda = (dataclasses.replace(spec.agenda[0], title="Gast: Landesdemokratiezentrum Sachsen"), *spec.agenda[1:])
    save_event(rt.store, rt.settings, dataclasses.replace(spec, agenda=own_agenda, capacity=80))

    # the series moves to another venue: every meeting moves there, the spring meeting keeps its own agenda
    change = store_series(
        rt.settings,
        parse(series_text(**{"name: Rathaus Zwickau, Ratssaal": "name: Rathaus Zwickau, Kleiner Saal"})),
    )
    assert change.full and change.before is not None
    applied = apply_to_meetings(rt, change.slug, now=NOW, before=change.before)
    changed = {c.slug: c.action for c in applied}
    changed_previous = {c.slug: c.previous for c in applied}
    assert changed == {FIRST_MEETING: "updated", spring: "updated"}
    with rt.store.session() as session:
        events = {e.slug: e for e in session.scalars(select(Event))}
    first, after = (EventSpec.from_data(events[s].spec) for s in (FIRST_MEETING, spring))
    assert first.venue is not None and after.venue is not None
    assert first.venue.name == after.venue.name == "Rathaus Zwickau, Kleiner Saal"
    assert after.agenda[0].title == "Gast: Landesdemokratiezentrum Sachsen" and after.capacity == 80
    assert first.agenda[0].title.startswith("Begrüßung") and first.capacity == 50

    # the whole calendar goes to the members again; each meeting's instance outranks what it had before
    assert enqueue_updates(rt, change, now=NOW) == 5
    with rt.store.session() as session:
        raw = session.scalars(
            select(OutboxMessage.raw).where(OutboxMessage.recipient == member, OutboxMessage.kind == UPDATE)
        ).one()
    cal = calendar_of(raw)[1]
    master = next(c for c in cal.walk("VEVENT") if "RECURRENCE-ID" not in c)
    assert master["SEQUENCE"] == change.sequence == 1
    # then the meeting's own update (the event-changed run, after the series' mail) makes the instance the
    # meeting's again: its SEQUENCE (the series' 1 plus the meeting's 1) outranks the series' 1
    enqueue_change(rt, FIRST_MEETING, previous_of(changed_previous[FIRST_MEETING]), now=NOW)
    meeting_update = outbox_calendar(rt, member, UPDATED)
    (instance,) = meeting_update.walk("VEVENT")
    assert str(instance["UID"]) == master["UID"] and instance["RECURRENCE-ID"].dt == FIRST_RID
    assert events[FIRST_MEETING].sequence == 1 and instance["SEQUENCE"] == 2
    client = Client()
    for message in (outbox_calendar(rt, member, INVITATION), outbox_calendar(rt, member, "invitation"), cal):
        client.receive(message)
    (entry,) = client.on(FIRST_RID.date())
    assert "Kleiner Saal" in str(entry["LOCATION"]) and f"/e/{FIRST_MEETING}" not in str(entry["DESCRIPTION"])
    client.receive(meeting_update)
    (entry,) = client.on(FIRST_RID.date())
    assert "Kleiner Saal" in str(entry["LOCATION"]) and f"/e/{FIRST_MEETING}" in str(entry["DESCRIPTION"])
    assert all(len(client.on(d)) == 1 for d in RULE_DATES if d not in (SKIPPED, MOVED_FROM))


# --- the members' personal data -----------------------------------------------------------------------


def test_an_erased_member_leaves_every_series_member_list(rt: runtime.Runtime) -> None:
    series = load_series(EXAMPLE, TEMPLATES)
    store_series(rt.settings, series)
    address = "beirat@buendnis-zwickau.example.org"
    assert memberships(rt.settings, address) == [
        {"series": series.slug, "name": "Sabine Krüger", "organisation": "Beirat des Bündnisses", "language": "de"}
    ]
    assert forget_member(rt.settings, address) == [series.slug]
    members = [m.email for m in load_stored(rt.settings, series.slug).series.members]
    assert address not in members and len(members) == len(series.members) - 1
    assert address not in state_path(rt.settings, series.slug).read_text(encoding="utf-8")
    assert forget_member(rt.settings, address) == [] and memberships(rt.settings, address) == []


def test_the_member_list_goes_with_the_retention_after_the_last_meeting(rt: runtime.Runtime) -> None:
    series = load_series(EXAMPLE, TEMPLATES)  # until 2028-12-31: last meeting 2028-10-11, six months' retention
    store_series(rt.settings, series)
    assert purge_members(rt.settings, datetime(2029, 4, 10, tzinfo=UTC)) == []
    assert purge_members(rt.settings, datetime(2029, 4, 12, tzinfo=UTC), dry_run=True) == [series.slug]
    assert len(load_stored(rt.settings, series.slug).series.members) == 5
    assert purge_members(rt.settings, datetime(2029, 4, 12, tzinfo=UTC)) == [series.slug]
    stored = load_stored(rt.settings, series.slug)
    assert stored.series.members == () and stored.series.rrule == series.rrule
    assert "@" not in json.dumps(stored.series.to_data()["members"])
    # a series without an end keeps its standing list: its meetings are still to come
    endless = parse(series_text(**{"until: 2028-12-31\n": "", "slug: plenum-buendnis-zwickau": "slug: beirat"}))
    store_series(rt.settings, endless)
    assert purge_members(rt.settings, datetime(2040, 1, 1, tzinfo=UTC)) == []
    assert len(load_stored(rt.settings, "beirat").series.members) == 5


def test_export_erasure_and_purge_reach_the_member_lists(rt: runtime.Runtime) -> None:
    series = load_series(EXAMPLE, TEMPLATES)
    store_series(rt.settings, series)
    address = "koordination@buendnis-zwickau.example.org"  # never invited to a meeting: only on the list
    exported = export_person(rt, address)
    assert exported["found"] and [m["series"] for m in exported["series_memberships"]] == [series.slug]
    report = forget_person(rt, address)
    assert report.found and report.series == [series.slug] and report.counts["series_memberships_removed"] == 1
    assert export_person(rt, address)["series_memberships"] == [] and not forget_person(rt, address).found
    purged = retention.purge(rt, datetime(2029, 5, 1, tzinfo=UTC))
    assert purged.series_members_purged == [series.slug]
    assert f"`{series.slug}`" in purged.markdown("Purge")
    assert load_stored(rt.settings, series.slug).series.members == ()
