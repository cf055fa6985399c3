"""Registration integrity on SQLite and PostgreSQL: no overbooking under concurrency, the waiting list and
its promotion, double opt-in and its expiry, personal links bound to purpose and registration; every change
puts its email into the outbox in the same transaction."""

from __future__ import annotations

import email
import email.utils
import secrets
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import pytest
from sqlalchemy import func, select

from eventkit.core.tokens import token_hash
from eventkit.db.store import Event, Invitation, OutboxMessage, Person, Registration
from eventkit.events.events import EventNotFound, save_event
from eventkit.mail import kinds
from eventkit.model.registration_form import RegistrationInput
from eventkit.model.spec import parse_spec
from eventkit.registration import cancellation, desk, links, optin, queries, rules, specs
from eventkit.registration import emails as registration_emails
from eventkit.registration.desk import submit
from eventkit.registration.optin import confirm
from eventkit.registration.queries import counts
from eventkit.registration.rules import InvalidLink, RegistrationClosed
from eventkit.runtime import Runtime
from tests.conftest import TEMPLATES, make_settings
from tests.test_spec import GOOD

BEFORE_DEADLINE = datetime(2027, 11, 1, tzinfo=UTC)


@pytest.fixture
def rt(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    runtime = Runtime.from_settings(make_settings(tmp_path, database_url))
    yield runtime
    runtime.store.dispose()


def make_event(rt: Runtime, capacity: int) -> str:
    spec = parse_spec(GOOD.replace("capacity: 40", f"capacity: {capacity}"), TEMPLATES)
    save_event(rt.store, rt.settings, spec)
    return spec.slug


def person(i: int | str, name: str | None = None, **answers: object) -> RegistrationInput:
    return RegistrationInput(name or f"Person {i}", f"person{i}@example.org", None, "de", dict(answers))


def invite(rt: Runtime, slug: str, people: list[RegistrationInput]) -> dict[str, str]:
    """Invitations as the invitation flow leaves them: a keyed hash of each personal token."""
    tokens = {}
    with rt.store.session() as s:
        event_id = s.scalar(select(Event.id).where(Event.slug == slug))
        for p in people:
            row = Person(email=p.email, name=p.name, organisation=p.organisation, language="de")
            s.add(row)
            s.flush()
            token = secrets.token_urlsafe(32)
            s.add(
                Invitation(
                    event_id=event_id,
                    person_id=row.id,
                    token_hash=token_hash(rt.settings.secret_key, "register", token),
                    status="invited",
                )
            )
            tokens[p.email] = token
    return tokens


def emails(rt: Runtime, kind: str | None = None) -> list[Message]:
    """The emails in the outbox, rendered as the delivery renders them before sending."""
    with rt.store.session() as s:
        kinds.render_pending(rt, list(s.scalars(select(OutboxMessage.id))))
    with rt.store.session() as s:
        query = select(OutboxMessage.raw).order_by(OutboxMessage.id)
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        return [email.message_from_bytes(raw) for raw in s.scalars(query)]


def calendar_of(msg: Message) -> str:
    for part in msg.walk():
        if part.get_content_type() == "text/calendar":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode().replace("\r\n ", "")  # unfolded (RFC 5545 3.1)
    return ""


def link(msg: Message, path: str) -> str:
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            for word in payload.decode().split():
                if path in word:
                    return word.split("?t=", 1)[1].rstrip(".,)>")
    raise AssertionError(f"no {path} link in the email")


@pytest.mark.slow
def test_500_concurrent_invited_registrations_for_50_places(rt: Runtime) -> None:
    slug = make_event(rt, capacity=50)
    people = [person(i) for i in range(500)]
    tokens = invite(rt, slug, people)

    def one(p: RegistrationInput) -> str:
        return submit(rt, slug, p, invitation_token=tokens[p.email], now=BEFORE_DEADLINE).status

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(one, people))
    assert statuses.count("registered") == 50
    assert statuses.count("waitlisted") == 450
    assert counts(rt, slug) == {"registered": 50, "waitlisted": 450}
    assert len(emails(rt, "registration-confirmed")) == 50
    assert len(emails(rt, "registration-waitlisted")) == 450


@pytest.mark.slow
def test_500_concurrent_confirmations_for_50_places(rt: Runtime) -> None:
    """The public way: the place is taken when the address is confirmed, and those race too."""
    slug = make_event(rt, capacity=50)
    for i in range(500):
        submit(rt, slug, person(i), now=BEFORE_DEADLINE)
    tokens = [link(m, "/confirm?t=") for m in emails(rt, "registration-optin")]
    assert len(set(tokens)) == 500

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(lambda t: confirm(rt, slug, t, now=BEFORE_DEADLINE).status, tokens))
    assert statuses.count("registered") == 50 and statuses.count("waitlisted") == 450
    assert counts(rt, slug) == {"registered": 50, "waitlisted": 450}


def test_an_invited_person_registering_twice_keeps_one_place(rt: Runtime) -> None:
    slug = make_event(rt, capacity=2)
    dmitri = person("dmitri", "Дмитрий Иванов", dietary=["vegan"])
    tokens = invite(rt, slug, [dmitri])
    first = submit(rt, slug, dmitri, invitation_token=tokens[dmitri.email], now=BEFORE_DEADLINE)
    again = submit(rt, slug, dmitri, invitation_token=tokens[dmitri.email], now=BEFORE_DEADLINE)
    assert (first.status, first.created) == ("registered", True)
    assert (again.registration_id, again.status, again.created) == (first.registration_id, "registered", False)
    assert first.manage_token and again.manage_token is None
    with rt.store.session() as s:
        assert s.scalar(select(func.count()).select_from(Registration)) == 1
    confirmation = emails(rt, "registration-confirmed")
    assert len(confirmation) == 1
    ics = calendar_of(confirmation[0])
    assert "METHOD:REQUEST" in ics and "PARTSTAT=ACCEPTED" in ics
    assert "Дмитрий Иванов" in str(email.header.make_header(email.header.decode_header(confirmation[0]["To"])))


def test_a_stranger_typing_someones_address_gets_no_place_and_learns_nothing(rt: Runtime) -> None:
    slug = make_event(rt, capacity=5)
    ayse = person("ayse", "Ayşe Yılmaz")
    tokens = invite(rt, slug, [ayse])
    submit(rt, slug, ayse, invitation_token=tokens[ayse.email], now=BEFORE_DEADLINE)
    # someone else uses her address on the public form, with another name
    outcome = submit(rt, slug, person("ayse", "Mallory"), now=BEFORE_DEADLINE)
    assert outcome.status == "pending" and not outcome.created and outcome.manage_token is None
    with rt.store.session() as s:
        assert s.scalars(select(Person.name).where(Person.email == ayse.email)).one() == "Ayşe Yılmaz"
    # the owner of the address gets her personal link again; the stranger gets nothing
    again = emails(rt, "registration-confirmed")
    assert len(again) == 2 and all(m["To"].endswith("<personayse@example.org>") for m in again)
    assert counts(rt, slug) == {"registered": 1}


def test_double_opt_in_counts_only_once_confirmed_and_a_second_click_changes_nothing(rt: Runtime) -> None:
    slug = make_event(rt, capacity=1)
    olena = person("olena", "Olena Kovalenko", support_needs=["sign_language"])
    outcome = submit(rt, slug, olena, now=BEFORE_DEADLINE)
    assert outcome.status == "pending"
    assert counts(rt, slug) == {"pending": 1}
    assert queries.availability(rt, slug, BEFORE_DEADLINE)["places_left"] == 1
    [optin] = emails(rt, "registration-optin")
    assert calendar_of(optin) == ""  # no calendar entry before the place is confirmed
    token = link(optin, "/confirm?t=")
    with pytest.raises(InvalidLink):  # a confirm link is not a manage link, nor the other way round
        cancellation.cancel(rt, slug, token, now=BEFORE_DEADLINE)
    done = confirm(rt, slug, token, now=BEFORE_DEADLINE)
    assert (done.status, done.created) == ("registered", True)
    assert confirm(rt, slug, token, now=BEFORE_DEADLINE).created is False
    assert counts(rt, slug) == {"registered": 1}
    assert len(emails(rt, "registration-confirmed")) == 1


def test_an_unconfirmed_request_expires_and_never_held_a_place(rt: Runtime) -> None:
    slug = make_event(rt, capacity=1)
    submit(rt, slug, person("late"), now=BEFORE_DEADLINE)
    token = link(emails(rt, "registration-optin")[0], "/confirm?t=")
    later = BEFORE_DEADLINE + optin.OPTIN_VALID + timedelta(minutes=1)
    assert optin.expire_pending(rt, now=BEFORE_DEADLINE) == 0
    assert optin.expire_pending(rt, now=later) == 1
    assert counts(rt, slug) == {"expired": 1}
    assert confirm(rt, slug, token, now=later).status == "expired"
    # and registering again starts a fresh request
    assert submit(rt, slug, person("late"), now=later).status == "pending"


def test_confirming_after_expiry_without_a_sweep_is_refused(rt: Runtime) -> None:
    slug = make_event(rt, capacity=3)
    submit(rt, slug, person("x"), now=BEFORE_DEADLINE)
    token = link(emails(rt, "registration-optin")[0], "/confirm?t=")
    outcome = confirm(rt, slug, token, now=BEFORE_DEADLINE + timedelta(days=3))
    assert outcome.status == "expired" and counts(rt, slug) == {"expired": 1}


def test_a_cancellation_promotes_the_first_person_waiting_and_tells_everyone(rt: Runtime) -> None:
    slug = make_event(rt, capacity=1)
    people = [person("ayse", "Ayşe Yılmaz"), person("m", "محمد الأحمد"), person("olena", "Olena Kovalenko")]
    tokens = invite(rt, slug, people)
    ayse, mohammed, olena = (submit(rt, slug, p, invitation_token=tokens[p.email], now=BEFORE_DEADLINE) for p in people)
    assert (ayse.status, mohammed.status, olena.status) == ("registered", "waitlisted", "waitlisted")
    assert (mohammed.position, olena.position) == (1, 2)
    assert ayse.manage_token is not None
    cancelled = cancellation.cancel(rt, slug, ayse.manage_token, now=BEFORE_DEADLINE)
    assert cancelled.promoted == mohammed.registration_id
    assert counts(rt, slug) == {"cancelled": 1, "registered": 1, "waitlisted": 1}
    [cancel_mail] = emails(rt, "registration-cancelled")
    ics = calendar_of(cancel_mail)
    assert "METHOD:CANCEL" in ics and "STATUS:CANCELLED" in ics
    [promoted] = emails(rt, "registration-promoted")
    assert "METHOD:REQUEST" in calendar_of(promoted)
    assert promoted["To"].endswith("<personm@example.org>")
    # the promoted person's link from the promotion email works, and shows the place
    info = links.peek(rt, slug, "manage", link(promoted, "/manage?t="))
    assert info["status"] == "registered" and info["name"] == "محمد الأحمد"
    # a place on the waiting list frees no place
    assert olena.manage_token is not None
    assert cancellation.cancel(rt, slug, olena.manage_token, now=BEFORE_DEADLINE).promoted is None
    assert "METHOD:CANCEL" not in calendar_of(emails(rt, "registration-cancelled")[-1])


def test_after_the_deadline_registration_is_closed(rt: Runtime) -> None:
    slug = make_event(rt, capacity=10)
    with pytest.raises(RegistrationClosed):
        submit(rt, slug, person("late"), now=datetime(2027, 11, 17, tzinfo=UTC))
    with pytest.raises(EventNotFound):
        submit(rt, "no-such-event", person("a"), now=BEFORE_DEADLINE)
    assert counts(rt, slug) == {}
    assert emails(rt) == []


def test_links_are_bound_to_their_registration(rt: Runtime) -> None:
    slug = make_event(rt, capacity=10)
    people = [person("a"), person("b")]
    tokens = invite(rt, slug, people)
    a, b = (submit(rt, slug, p, invitation_token=tokens[p.email], now=BEFORE_DEADLINE) for p in people)
    assert a.manage_token and b.manage_token
    # a's MAC with b's id, a truncated token, garbage: all refused
    forged = f"{b.registration_id}.{a.manage_token.split('.', 1)[1]}"
    for bad in (forged, a.manage_token[:-2], "1.abc", "", "x" * 500):
        with pytest.raises(InvalidLink):
            links.peek(rt, slug, "manage", bad)
    assert links.peek(rt, slug, "manage", a.manage_token)["email"] == "persona@example.org"


def test_registrations_arriving_together_get_consecutive_places_on_the_waiting_list(rt: Runtime) -> None:
    """Requests that arrive together are written together (one transaction per batch): every one still gets
    its own decision, in order, and the waiting-list place it is told is the one the organisers see."""
    slug = make_event(rt, capacity=10)
    people = [person(i) for i in range(60)]
    tokens = invite(rt, slug, people)

    def one(p: RegistrationInput) -> rules.Outcome:
        return submit(rt, slug, p, invitation_token=tokens[p.email], now=BEFORE_DEADLINE)

    with ThreadPoolExecutor(max_workers=30) as pool:
        outcomes = list(pool.map(one, people))
    assert sorted(o.status for o in outcomes).count("registered") == 10
    told = {o.registration_id: o.position for o in outcomes if o.status == "waitlisted"}
    assert sorted(told.values()) == list(range(1, 51))
    _spec, rows = queries.listing(rt, slug)
    assert {r.id: r.position for r in rows if r.status == "waitlisted"} == told
    assert all(o.manage_token for o in outcomes)


def test_a_registration_that_fails_does_not_take_the_others_of_its_batch_with_it(rt: Runtime) -> None:
    slug = make_event(rt, capacity=50)
    people = [person(i) for i in range(20)]
    tokens = invite(rt, slug, people)
    # answers the JSON column cannot store: the database statement fails for this one registration
    broken = RegistrationInput("Broken", people[7].email, None, "de", {"dietary": {1, 2}})

    def one(p: RegistrationInput) -> str:
        try:
            return submit(rt, slug, p, invitation_token=tokens[p.email], now=BEFORE_DEADLINE).status
        except Exception as exc:  # noqa: BLE001 - what the one broken registration raises
            return type(exc).__name__

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(one, [broken if i == 7 else p for i, p in enumerate(people)]))
    assert statuses[7] not in ("registered", "waitlisted")
    assert statuses[:7] + statuses[8:] == ["registered"] * 19
    assert counts(rt, slug) == {"registered": 19}
    assert len(emails(rt, "registration-confirmed")) == 19  # nothing half-written for the broken one


def test_input_checked_against_an_older_version_of_the_event_is_checked_again(rt: Runtime) -> None:
    """The web app checks a registration against the event as it last saw it (known_spec, no query); when
    the organiser has changed the event since, submit writes nothing and says so."""
    slug = make_event(rt, capacity=5)
    version, spec = specs.known_spec(rt, slug)
    assert specs.known_spec(rt, slug) == (version, spec)
    changed = parse_spec(GOOD.replace("capacity: 40", "capacity: 1"), TEMPLATES)
    save_event(rt.store, rt.settings, changed)
    with pytest.raises(rules.SpecChanged):
        submit(rt, slug, person("a"), now=BEFORE_DEADLINE, checked_with=version)
    assert counts(rt, slug) == {}
    fresh, spec = specs.known_spec(rt, slug, fresh=True)
    assert fresh != version and spec.capacity == 1
    assert submit(rt, slug, person("a"), now=BEFORE_DEADLINE, checked_with=fresh).status == "pending"


def test_rendering_a_batch_of_emails_leaves_the_database_free_for_registrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delivery renders a batch (milliseconds per email) before it writes the rendered emails, in one short
    transaction at the end: meanwhile another process, say the web app registering someone, can write at once."""
    path = tmp_path / "eventkit.sqlite3"
    rt = Runtime.from_settings(make_settings(tmp_path, f"sqlite:///{path}"))
    slugs = [make_event(rt, capacity=5)]
    other = parse_spec(GOOD.replace("capacity: 40", "capacity: 1").replace(slugs[0], "netzwerk-2027-gera"), TEMPLATES)
    save_event(rt.store, rt.settings, other)
    slugs.append(other.slug)
    # a batch from one event to the next, with a waiting-list email (whose place is looked up on the way)
    names = ["Jörg Müller", "محمد الأحمد", "Дмитрий Иванов"]
    for i, slug in enumerate([slugs[0], slugs[1], slugs[1]]):
        someone = person(i, names[i])
        submit(rt, slug, someone, invitation_token=invite(rt, slug, [someone])[someone.email], now=BEFORE_DEADLINE)
    written: list[str] = []
    build = registration_emails._build

    def build_then_write_elsewhere(*args, **kwargs):  # type: ignore[no-untyped-def]
        out = build(*args, **kwargs)
        # another connection (as another process would) writes without waiting: SQLite answers "locked" at
        # once if this delivery holds the write lock
        other = sqlite3.connect(path, timeout=0)
        try:
            other.execute("UPDATE events SET title = title")
            other.commit()
            written.append("ok")
        finally:
            other.close()
        return out

    monkeypatch.setattr(registration_emails, "_build", build_then_write_elsewhere)
    with rt.store.session() as s:
        ids = list(s.scalars(select(OutboxMessage.id)))
    kinds.render_pending(rt, ids)
    assert written == ["ok", "ok", "ok"]
    with rt.store.session() as s:
        rendered = s.execute(select(OutboxMessage.recipient, OutboxMessage.raw).order_by(OutboxMessage.id)).all()
    assert [r for r, _ in rendered] == ["person0@example.org", "person1@example.org", "person2@example.org"]
    assert all(raw and b"Subject:" in raw for _, raw in rendered)
    rt.store.dispose()


def test_one_batch_with_a_double_click_a_public_request_and_a_changed_name(rt: Runtime) -> None:
    """A batch writes its invited registrations together at its end; whatever else it holds sees them first:
    the same link twice (a double click) keeps one place, a public request and a re-registration read the
    database as the batch has changed it so far, and the waiting list keeps the order of arrival."""
    slug = make_event(rt, capacity=2)
    ayse, jorg, dmitri, lena = person("ayse", "Ayşe Yılmaz"), person("jorg", "Jörg Müller"), person("d"), person("l")
    tokens = invite(rt, slug, [ayse, jorg, dmitri, lena])
    renamed = RegistrationInput("Дмитрий Иванов", dmitri.email, "Städtepartnerschaft e.V.", "de", {})
    stranger = person("public", "محمد الأحمد")
    arrivals = [
        (ayse, tokens[ayse.email]),
        (ayse, tokens[ayse.email]),  # the same click again, in the same batch
        (stranger, None),  # a public request: double opt-in
        (renamed, tokens[dmitri.email]),  # the name and organisation as the person typed them now
        (jorg, tokens[jorg.email]),
        (lena, tokens[lena.email]),
    ]
    items = [desk._Item(slug, data, token, BEFORE_DEADLINE, None) for data, token in arrivals]
    desk._write_batch(rt, slug, items)
    outcomes = [item.result() for item in items]
    assert [(o.status, o.created) for o in outcomes] == [
        ("registered", True),
        ("registered", False),
        ("pending", True),
        ("registered", True),
        ("waitlisted", True),
        ("waitlisted", True),
    ]
    assert outcomes[1].registration_id == outcomes[0].registration_id
    assert [o.position for o in outcomes[4:]] == [1, 2]
    _spec, rows = queries.listing(rt, slug)
    assert {r.id: r.position for r in rows if r.status == "waitlisted"} == {
        outcomes[4].registration_id: 1,
        outcomes[5].registration_id: 2,
    }
    with rt.store.session() as s:
        changed = s.scalar(select(Person).where(Person.email == dmitri.email))
        assert changed is not None
        assert (changed.name, changed.organisation) == ("Дмитрий Иванов", "Städtepartnerschaft e.V.")
        assert s.scalar(select(func.count()).select_from(Registration)) == 5

    def recipients(kind: str) -> list[str]:
        return [email.utils.parseaddr(str(m["To"]))[1] for m in emails(rt, kind)]

    assert recipients("registration-confirmed") == [ayse.email, dmitri.email]  # one for the double click
    assert recipients("registration-optin") == [stranger.email]
    assert recipients("registration-waitlisted") == [jorg.email, lena.email]
    for outcome in outcomes:  # every personal link works for its own registration
        if outcome.manage_token:
            shown = links.peek(rt, slug, "manage", outcome.manage_token)
            assert (shown["id"], shown["status"]) == (outcome.registration_id, outcome.status)
