"""Reminders: every format and language says what people need on the day; each goes out once, to the right people."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select, update

from eventkit.core.render import RenderedEmail, Renderer
from eventkit.core.tokens import token_hash
from eventkit.db.store import Event, Invitation, OutboxMessage, Person
from eventkit.devtools.samples import sample_context
from eventkit.events.events import save_event
from eventkit.mail import kinds
from eventkit.model.formats import discover
from eventkit.model.registration_form import RegistrationInput
from eventkit.model.spec import parse_spec
from eventkit.registration import cancellation, desk
from eventkit.reminders.reminders import enqueue_reminders
from eventkit.runtime import Runtime
from tests.conftest import TEMPLATES, make_settings
from tests.test_spec import GOOD

FORMATS = sorted(discover(TEMPLATES))
LANGUAGES = ("de", "en")
BASE = "https://events.example.org"
BEFORE = datetime(2027, 11, 1, tzinfo=UTC)  # before the deadline of GOOD's event (20 November 2027)
NAMES = ("Дмитрий Иванов", "محمد الأحمد", "Ayşe Yılmaz", "Nguyễn Thị Hương")


def render(format_name: str, name: str, language: str, **changes: Any) -> tuple[RenderedEmail, dict[str, Any]]:
    ctx = sample_context(TEMPLATES, format_name, language, BASE)
    if changes:
        ctx["event"] = dataclasses.replace(ctx["event"], **changes)
    return Renderer(TEMPLATES).email(format_name, name, language, ctx), ctx


def flat(text: str) -> str:
    return " ".join(text.split())


# --- rendering, with sample data --------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("format_name", FORMATS)
def test_the_reminder_says_what_is_needed_on_the_day(format_name: str, language: str) -> None:
    out, ctx = render(format_name, "reminder", language)
    event = ctx["event"]
    assert out.subject.startswith("Erinnerung: " if language == "de" else "Reminder: ")
    assert event.title in out.subject
    assert (" am " if language == "de" else " on ") in out.subject
    text = flat(out.text)
    for fact in (event.venue.name, event.venue.address, event.venue.directions, event.venue.accessibility):
        assert fact in text and fact in out.html
    for item in event.agenda:
        assert item.title in text and item.title in out.html
    assert ctx["links"].manage in out.text and ctx["links"].manage in out.html
    assert ctx["links"].ics in out.text
    if language == "de":
        assert "Morgen geht es los" in out.text and "Morgen geht es los" in out.html
        assert "Warteliste Ihren Platz" in text  # cancel, so that someone waiting gets the place
        assert "Reminder" not in out.text
    else:
        assert "It starts tomorrow" in out.text and "It starts tomorrow" in out.html
        assert "someone from the waiting list can take your place" in text
        assert "Erinnerung" not in out.text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("format_name", FORMATS)
def test_the_waiting_list_gets_a_short_status_note(format_name: str, language: str) -> None:
    out, ctx = render(format_name, "reminder-waitlisted", language)
    assert ctx["event"].title in out.subject
    assert out.subject.startswith("Weiterhin auf der Warteliste" if language == "de" else "Still on the waiting list")
    position = "Sie stehen auf Platz 3 der Warteliste." if language == "de" else "You are number 3 on the waiting list."
    assert position in out.text and position in out.html
    assert ctx["links"].manage in out.text and ctx["links"].manage in out.html
    assert ctx["links"].ics not in out.text  # no calendar entry without a place
    for item in ctx["event"].agenda:
        assert item.title not in out.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_reminder_counts_the_days_left(language: str) -> None:
    ctx = sample_context(TEMPLATES, "fachvernetzung", language, BASE)
    ctx["reminder"] = SimpleNamespace(label="7d", offset=timedelta(days=7), days_before=7)
    out = Renderer(TEMPLATES).email("fachvernetzung", "reminder", language, ctx)
    expected = "In 7 Tagen geht es los" if language == "de" else "It starts in 7 days"
    assert expected in out.text and expected in out.html


def test_a_two_day_event_shows_both_days_in_the_reminder() -> None:
    ctx = sample_context(TEMPLATES, "netzwerktreffen", "de", BASE)
    event = ctx["event"]
    ctx["event"] = dataclasses.replace(event, end=event.start + timedelta(days=1, hours=6))
    out = Renderer(TEMPLATES).email("netzwerktreffen", "reminder", "de", ctx)
    from babel.dates import format_date

    for day in ctx["event"].days:
        assert format_date(day, format="full", locale="de_DE") in out.text
    assert " vom " in out.subject and " bis " in out.subject


def test_an_online_event_gives_its_link() -> None:
    out, _ = render("barcamp", "reminder", "en", venue=None, online_url="https://meet.example.org/camp")
    assert "https://meet.example.org/camp" in out.text and "https://meet.example.org/camp" in out.html
    assert "Marktplatz" not in out.text


# --- the outbox: who gets what, and only once -------------------------------------------------------


@pytest.fixture
def rt(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    runtime = Runtime.from_settings(make_settings(tmp_path, database_url))
    yield runtime
    runtime.store.dispose()


def make_event(rt: Runtime, capacity: int) -> str:
    spec = parse_spec(GOOD.replace("capacity: 40", f"capacity: {capacity}"), TEMPLATES)
    save_event(rt.store, rt.settings, spec)
    return spec.slug


def invited(
    rt: Runtime, slug: str, address: str, name: str, language: str = "de", now: datetime = BEFORE
) -> RegistrationInput:
    """A person invited by a personal link and registered with it (a place, or the waiting list)."""
    token = secrets.token_urlsafe(16)
    with rt.store.session() as s:
        event_id = s.scalars(select(Event.id).where(Event.slug == slug)).one()
        row = Person(email=address, name=name, organisation=None, language=language)
        s.add(row)
        s.flush()
        digest = token_hash(rt.settings.secret_key, "register", token)
        s.add(Invitation(event_id=event_id, person_id=row.id, token_hash=digest, status="invited"))
    data = RegistrationInput(name, address, None, language, {})
    desk.submit(rt, slug, data, invitation_token=token, now=now)
    return data


def reminder_rows(rt: Runtime) -> list[OutboxMessage]:
    with rt.store.session() as s:
        return list(
            s.scalars(select(OutboxMessage).where(OutboxMessage.kind.like("reminder%")).order_by(OutboxMessage.id))
        )


def rendered(rt: Runtime) -> dict[str, EmailMessage]:
    """The reminders as the delivery renders them, by recipient."""
    kinds.render_pending(rt, [r.id for r in reminder_rows(rt)])
    return {
        r.recipient: email.message_from_bytes(r.raw, policy=email.policy.default)  # type: ignore[misc]
        for r in reminder_rows(rt)
        if r.raw is not None
    }


def calendar(message: EmailMessage) -> str | None:
    part = next((p for p in message.walk() if p.get_content_type() == "text/calendar"), None)
    if part is None:
        return None
    assert part.get_param("method") == "REQUEST"
    return str(part.get_content()).replace("\r\n ", "")  # unfolded


def body(message: EmailMessage, subtype: str = "plain") -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    return str(part.get_content())


def test_registered_people_get_the_reminder_and_the_waiting_list_a_status_note(rt: Runtime) -> None:
    slug = make_event(rt, capacity=2)
    invited(rt, slug, "dmitri@example.org", NAMES[0], "de")
    invited(rt, slug, "mohammed@example.org", NAMES[1], "en")
    invited(rt, slug, "ayse@example.org", NAMES[2], "de")  # the event is full: waiting list
    desk.submit(rt, slug, RegistrationInput(NAMES[3], "huong@example.org", None, "de", {}), now=BEFORE)

    assert enqueue_reminders(rt, slug, "1d", now=BEFORE) == {
        "reminder": 2, "reminder-waitlisted": 1, "already": 0, "cancelled": 0, "started": 0
    }  # fmt: skip
    messages = rendered(rt)
    assert set(messages) == {"dmitri@example.org", "mohammed@example.org", "ayse@example.org"}  # not the pending one

    with rt.store.session() as s:
        event = s.scalars(select(Event).where(Event.slug == slug)).one()
        uid, sequence = event.uid, event.sequence
    for address, name in (("dmitri@example.org", NAMES[0]), ("mohammed@example.org", NAMES[1])):
        message = messages[address]
        ics = calendar(message)
        assert ics is not None
        assert "METHOD:REQUEST" in ics and f"UID:{uid}" in ics and f"SEQUENCE:{sequence}" in ics
        assert "PARTSTAT=ACCEPTED" in ics
        assert name in body(message) and name in body(message, "html")
        assert "/manage?t=" in body(message)
    assert messages["dmitri@example.org"]["Subject"].startswith("Erinnerung: Fachvernetzung 2027 am ")
    assert messages["mohammed@example.org"]["Subject"].startswith("Reminder: Fachvernetzung 2027 on ")
    waiting = messages["ayse@example.org"]
    assert calendar(waiting) is None
    assert waiting["Subject"] == "Weiterhin auf der Warteliste: Fachvernetzung 2027"
    assert "Sie stehen auf Platz 1 der Warteliste." in body(waiting)
    assert NAMES[2] in body(waiting) and "/manage?t=" in body(waiting)


def test_running_it_again_schedules_nothing_twice(rt: Runtime) -> None:
    slug = make_event(rt, capacity=1)
    invited(rt, slug, "dmitri@example.org", NAMES[0])
    invited(rt, slug, "ayse@example.org", NAMES[2])
    first = enqueue_reminders(rt, slug, "7d", now=BEFORE)
    again = enqueue_reminders(rt, slug, "7d", now=BEFORE + timedelta(minutes=5))
    assert (first["reminder"], first["reminder-waitlisted"]) == (1, 1)
    assert (again["reminder"], again["reminder-waitlisted"], again["already"]) == (0, 0, 2)
    assert len(reminder_rows(rt)) == 2
    other = enqueue_reminders(rt, slug, "1d", now=BEFORE)  # the next reminder is another email
    assert other["reminder"] == 1 and len(reminder_rows(rt)) == 4
    # a change of place raises SEQUENCE: the reminder goes out again, with the new venue
    moved = GOOD.replace("capacity: 40", "capacity: 1").replace("Rathaus Gifhorn", "Stadthalle Gifhorn")
    save_event(rt.store, rt.settings, parse_spec(moved, TEMPLATES))
    assert enqueue_reminders(rt, slug, "1d", now=BEFORE)["reminder"] == 1


def test_a_cancelled_or_begun_event_gets_no_reminders(rt: Runtime) -> None:
    slug = make_event(rt, capacity=5)
    invited(rt, slug, "dmitri@example.org", NAMES[0])
    started = datetime(2027, 11, 20, 12, 30, tzinfo=UTC)
    assert enqueue_reminders(rt, slug, "1d", now=started)["started"] == 1
    with rt.store.session() as s:
        s.execute(update(Event).where(Event.slug == slug).values(status="cancelled"))
    result = enqueue_reminders(rt, slug, "1d", now=BEFORE)
    assert result["cancelled"] == 1 and result["reminder"] == 0
    assert reminder_rows(rt) == []


def test_a_reminder_for_a_registration_cancelled_since_is_not_sent(rt: Runtime) -> None:
    slug = make_event(rt, capacity=5)
    invited(rt, slug, "dmitri@example.org", NAMES[0])
    enqueue_reminders(rt, slug, "1d", now=BEFORE)
    with rt.store.session() as s:
        registration_id = s.scalars(select(OutboxMessage.registration_id)).first()
    assert registration_id is not None
    cancellation.cancel_by_organiser(rt, slug, registration_id, now=BEFORE)
    assert rendered(rt) == {}
    (row,) = reminder_rows(rt)
    assert row.status == "failed" and row.last_error == "not sent: the registration is cancelled now"


def test_an_unknown_duration_is_refused(rt: Runtime) -> None:
    slug = make_event(rt, capacity=5)
    with pytest.raises(ValueError, match="duration"):
        enqueue_reminders(rt, slug, "tomorrow", now=BEFORE)
