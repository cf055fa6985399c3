"""Changes after the invitations: who hears of a new time or of the cancellation, with which calendar object, once."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import icalendar
import pytest
from sqlalchemy import select

from eventkit.db.store import Event, Invitation, OutboxMessage, Person
from eventkit.events import changes
from eventkit.events.events import EventCancelled, save_event
from eventkit.model.registration_form import RegistrationInput
from eventkit.model.spec import parse_spec
from eventkit.registration import cancellation, desk, rules
from eventkit.runtime import Runtime
from tests.conftest import TEMPLATES, make_settings
from tests.test_reminders import BEFORE, NAMES, invited
from tests.test_spec import GOOD

MOVED = GOOD.replace("2027-11-20T12:00", "2027-11-27T10:00").replace("2027-11-20T17:00", "2027-11-27T15:00")
MOVED = (
    MOVED.replace("2027-11-16T23:59", "2027-11-23T23:59").replace('"12:00"', '"10:00"').replace('"13:30"', '"11:30"')
)


@pytest.fixture
def rt(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    runtime = Runtime.from_settings(make_settings(tmp_path, database_url))
    yield runtime
    runtime.store.dispose()


def make_event(rt: Runtime, spec: str = GOOD, capacity: int = 2) -> str:
    return save_event(
        rt.store, rt.settings, parse_spec(spec.replace("capacity: 40", f"capacity: {capacity}"), TEMPLATES)
    ).slug


def invite_only(rt: Runtime, slug: str, address: str, name: str, language: str = "de") -> None:
    """Invited, not registered (the invitation put the event into their calendar)."""
    with rt.store.session() as s:
        event_id = s.scalars(select(Event.id).where(Event.slug == slug)).one()
        person = Person(email=address, name=name, organisation=None, language=language)
        s.add(person)
        s.flush()
        s.add(Invitation(event_id=event_id, person_id=person.id, status="invited"))


def people(rt: Runtime, slug: str) -> None:
    invited(rt, slug, "dmitri@example.org", NAMES[0], "de")  # registered (a place)
    invited(rt, slug, "mohammed@example.org", NAMES[1], "en")  # registered (a place)
    invited(rt, slug, "ayse@example.org", NAMES[2], "de")  # invited, on the waiting list
    public = RegistrationInput(NAMES[3], "huong@example.org", None, "de", {})
    desk.submit(rt, slug, public, now=BEFORE)  # public link: an unconfirmed request
    invite_only(rt, slug, "mueller@example.org", "Jürgen Müller")
    invited(rt, slug, "gone@example.org", "Weg Gegangen", "de")
    with rt.store.session() as s:
        gone = s.scalars(
            select(OutboxMessage.registration_id).where(OutboxMessage.recipient == "gone@example.org")
        ).first()
    assert gone is not None
    cancellation.cancel_by_organiser(rt, slug, gone, now=BEFORE)


def messages(rt: Runtime, kind: str) -> dict[str, EmailMessage]:
    with rt.store.session() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)).all()
        return {
            r.recipient: email.message_from_bytes(r.raw, policy=email.policy.default)  # type: ignore[misc]
            for r in rows
            if r.raw is not None
        }


def calendar(message: EmailMessage) -> icalendar.Calendar | None:
    part = next((p for p in message.walk() if p.get_content_type() == "text/calendar"), None)
    if part is None:
        return None
    cal = icalendar.Calendar.from_ical(part.get_payload(decode=True))
    assert part.get_param("method") == str(cal["METHOD"])  # the MIME part says what the file says
    return cal


def text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return " ".join(str(part.get_content()).split())


def test_a_new_time_reaches_everyone_invited_or_registered_and_moves_their_calendar(rt: Runtime) -> None:
    slug = make_event(rt)
    people(rt, slug)
    saved = save_event(rt.store, rt.settings, parse_spec(MOVED.replace("capacity: 40", "capacity: 2"), TEMPLATES))
    assert saved.changed == ("start", "end") and saved.sequence == 1 and saved.previous is not None

    result = changes.enqueue_change(rt, slug, changes.previous_of(saved.previous))
    assert (result["emails"], result["with_calendar"], result["already"]) == (5, 4, 0)
    sent = messages(rt, changes.UPDATED)
    # not the person who cancelled; the public request hears of it (text only: no calendar entry yet)
    assert set(sent) == {
        "dmitri@example.org", "mohammed@example.org", "ayse@example.org", "huong@example.org", "mueller@example.org"
    }  # fmt: skip
    with rt.store.session() as s:
        uid = s.scalars(select(Event.uid).where(Event.slug == slug)).one()
    for address in ("dmitri@example.org", "mohammed@example.org", "ayse@example.org", "mueller@example.org"):
        cal = calendar(sent[address])
        assert cal is not None
        (vevent,) = cal.walk("VEVENT")
        assert str(cal["METHOD"]) == "REQUEST"
        assert str(vevent["UID"]) == uid and int(vevent["SEQUENCE"]) == 1
        assert vevent.decoded("DTSTART") == datetime(2027, 11, 27, 9, 0, tzinfo=UTC)
        attendee = vevent["ATTENDEE"]
        assert str(attendee) == f"mailto:{address}"
        expected = "ACCEPTED" if address in ("dmitri@example.org", "mohammed@example.org") else "NEEDS-ACTION"
        assert attendee.params["PARTSTAT"] == expected
    assert calendar(sent["huong@example.org"]) is None

    german = text(sent["dmitri@example.org"])
    assert sent["dmitri@example.org"]["Subject"] == "Geändert: Fachvernetzung 2027"
    assert "Bisher: Samstag, 20. November 2027, 12:00 bis 17:00 Uhr" in german
    assert "Samstag, 27. November 2027, 10:00 bis 15:00 Uhr" in german
    assert "/manage?t=" in german and NAMES[0] in german
    english = text(sent["mohammed@example.org"])
    assert sent["mohammed@example.org"]["Subject"] == "Changed: Fachvernetzung 2027"
    assert "Previously: Saturday, 20 November 2027, 12:00 to 17:00" in english and NAMES[1] in english
    # invited only: no personal page, the public event page to register
    assert "/manage?t=" not in text(sent["mueller@example.org"])
    assert f"/e/{slug}" in text(sent["mueller@example.org"])

    # the same change again writes nothing; the next change writes again
    assert changes.enqueue_change(rt, slug, changes.previous_of(saved.previous))["emails"] == 0
    venue = MOVED.replace("capacity: 40", "capacity: 2").replace("Rathaus Gifhorn", "Stadthalle Gifhorn")
    again = save_event(rt.store, rt.settings, parse_spec(venue, TEMPLATES))
    assert again.changed == ("venue",) and again.sequence == 2
    assert again.previous is not None
    assert changes.enqueue_change(rt, slug, changes.previous_of(again.previous))["emails"] == 5
    latest = [m for m in messages(rt, changes.UPDATED).values() if "Stadthalle" in text(m)]
    assert len(latest) == 5
    assert any("Bisheriger Ort: Rathaus Gifhorn, Marktplatz 1, 38518 Gifhorn" in text(m) for m in latest)


def test_a_cancellation_sends_cancel_to_every_calendar_and_closes_registration(rt: Runtime) -> None:
    slug = make_event(rt)
    people(rt, slug)
    sequence = changes.cancel_event(rt, slug, "Wegen Krankheit der Referentin. Ein neuer Termin folgt.", now=BEFORE)
    assert sequence == 1
    result = changes.enqueue_change(rt, slug, None, now=BEFORE)
    assert (result["emails"], result["with_calendar"]) == (5, 4)
    sent = messages(rt, changes.CANCELLED)
    for address, message in sent.items():
        cal = calendar(message)
        if address == "huong@example.org":
            assert cal is None
            continue
        assert cal is not None
        (vevent,) = cal.walk("VEVENT")
        assert str(cal["METHOD"]) == "CANCEL" and str(vevent["STATUS"]) == "CANCELLED"
        assert int(vevent["SEQUENCE"]) == 1
    german = text(sent["dmitri@example.org"])
    assert sent["dmitri@example.org"]["Subject"] == "Abgesagt: Fachvernetzung 2027"
    assert "Die Veranstaltenden schreiben: Wegen Krankheit der Referentin." in german
    assert "/manage?t=" not in german

    with pytest.raises(rules.RegistrationClosed):
        desk.submit(rt, slug, RegistrationInput("Neu", "neu@example.org", None, "de", {}), now=BEFORE)
    with pytest.raises(changes.NotCancellable):
        changes.cancel_event(rt, slug, None, now=BEFORE)
    # a cancelled event does not move: a new date is a new event
    with pytest.raises(EventCancelled):
        save_event(rt.store, rt.settings, parse_spec(MOVED.replace("capacity: 40", "capacity: 2"), TEMPLATES))


def test_an_event_that_is_over_cannot_be_cancelled(rt: Runtime) -> None:
    slug = make_event(rt)
    with pytest.raises(changes.NotCancellable, match="over"):
        changes.cancel_event(rt, slug, None, now=datetime(2027, 11, 21, tzinfo=UTC))
    with rt.store.session() as s:
        assert s.scalars(select(Event.status).where(Event.slug == slug)).one() == "scheduled"
