"""Check-in per day of a multi-day event: mark and undo, the default day, refused days, what goes with a
registration, the export and the purge figures, and migration 0007 from a 0006 store; SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from eventkit.core.settings import Settings
from eventkit.core.tokens import new_nonce
from eventkit.core.validation import ValidationFailed
from eventkit.db.store import Checkin, Event, Person, Registration, Store, migrate
from eventkit.door import checkins
from eventkit.events.events import find_event, save_event
from eventkit.model.spec import parse_spec
from eventkit.privacy import privacy, retention
from eventkit.runtime import Runtime
from tests.conftest import TEMPLATES, make_settings
from tests.test_multiday import TWO_DAYS

THURSDAY, FRIDAY = date(2027, 11, 4), date(2027, 11, 5)
# Thursday 11:00 and Friday 09:30 in Nürnberg (Berlin time, UTC+1 in November)
THURSDAY_MORNING = datetime(2027, 11, 4, 10, 0, tzinfo=UTC)
FRIDAY_MORNING = datetime(2027, 11, 5, 8, 30, tzinfo=UTC)


@pytest.fixture
def rt(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    runtime = Runtime.from_settings(make_settings(tmp_path, database_url))
    yield runtime
    runtime.store.dispose()


def add_event(store: Store, settings: Settings, text: str = TWO_DAYS) -> str:
    return save_event(store, settings, parse_spec(text, TEMPLATES)).slug


def place(store: Store, slug: str, name: str, days: list[str] | None = None, status: str = "registered") -> int:
    """A registration as the registration leaves it (with a place, unless `status` says otherwise)."""
    with store.session() as session:
        event = find_event(session, slug)
        address = name.split()[0].lower() + "@example.org"
        person = session.scalar(select(Person).where(Person.email == address))
        if person is None:
            person = Person(email=address, name=name, organisation="Verein e.V.", language="de")
            session.add(person)
            session.flush()
        registration = Registration(
            event_id=event.id,
            person_id=person.id,
            status=status,
            answers={"days": days} if days else {},
            token_nonce=new_nonce(),
        )
        session.add(registration)
        session.flush()
        return registration.id


def marks(rt: Runtime, slug: str, registration_id: int) -> dict[date, datetime]:
    return checkins.of_event(rt, slug).by_registration.get(registration_id, {})


def checked_in_at(rt: Runtime, registration_id: int) -> datetime | None:
    with rt.store.session() as session:
        registration = session.get(Registration, registration_id)
        assert registration is not None
        return registration.checked_in_at


def test_check_in_per_day_and_undo(rt: Runtime) -> None:
    slug = add_event(rt.store, rt.settings)
    anna = place(rt.store, slug, "Anna Beispiel", ["2027-11-04", "2027-11-05"])
    assert checkins.check_in(rt, slug, anna, True, THURSDAY, now=THURSDAY_MORNING)
    assert checkins.check_in(rt, slug, anna, True, FRIDAY, now=FRIDAY_MORNING)
    assert marks(rt, slug, anna) == {THURSDAY: THURSDAY_MORNING, FRIDAY: FRIDAY_MORNING}
    # a second mark on a day keeps the time of the first
    assert checkins.check_in(rt, slug, anna, True, FRIDAY, now=datetime(2027, 11, 5, 14, 0, tzinfo=UTC))
    assert marks(rt, slug, anna)[FRIDAY] == FRIDAY_MORNING
    # undo on one day leaves the other
    assert checkins.check_in(rt, slug, anna, False, THURSDAY, now=FRIDAY_MORNING)
    assert marks(rt, slug, anna) == {FRIDAY: FRIDAY_MORNING}
    assert checkins.check_in(rt, slug, anna, False, FRIDAY, now=FRIDAY_MORNING)
    assert marks(rt, slug, anna) == {}
    # undoing what is not there changes nothing
    assert checkins.check_in(rt, slug, anna, False, FRIDAY, now=FRIDAY_MORNING)
    assert marks(rt, slug, anna) == {}


def test_checked_in_at_stays_the_first_check_in(rt: Runtime) -> None:
    slug = add_event(rt.store, rt.settings)
    anna = place(rt.store, slug, "Anna Beispiel")
    assert checkins.check_in(rt, slug, anna, True, THURSDAY, now=THURSDAY_MORNING)
    assert checked_in_at(rt, anna) == THURSDAY_MORNING
    assert checkins.check_in(rt, slug, anna, True, FRIDAY, now=FRIDAY_MORNING)
    assert checked_in_at(rt, anna) == THURSDAY_MORNING  # the first stays
    assert checkins.check_in(rt, slug, anna, False, THURSDAY, now=FRIDAY_MORNING)
    assert checked_in_at(rt, anna) == FRIDAY_MORNING  # the first of those left
    assert checkins.check_in(rt, slug, anna, False, FRIDAY, now=FRIDAY_MORNING)
    assert checked_in_at(rt, anna) is None  # cleared with the last


def test_the_day_is_the_one_it_is_in_the_events_time_zone_else_the_first(rt: Runtime) -> None:
    slug = add_event(rt.store, rt.settings)
    anna, berkan, chiara = (place(rt.store, slug, n) for n in ("Anna A", "Berkan B", "Chiara C"))
    # 23:30 UTC on Thursday is half past midnight on Friday in Nürnberg
    late = datetime(2027, 11, 4, 23, 30, tzinfo=UTC)
    assert checkins.check_in(rt, slug, anna, True, now=late)
    assert marks(rt, slug, anna) == {FRIDAY: late}
    before = datetime(2027, 10, 1, 12, 0, tzinfo=UTC)  # checked in ahead of the event: its first day
    assert checkins.check_in(rt, slug, berkan, True, now=before)
    assert marks(rt, slug, berkan) == {THURSDAY: before}
    after = datetime(2027, 11, 6, 9, 0, tzinfo=UTC)
    assert checkins.check_in(rt, slug, chiara, True, now=after)
    assert marks(rt, slug, chiara) == {THURSDAY: after}
    spec = checkins.of_event(rt, slug).spec
    assert checkins.default_day(spec, late) == FRIDAY and checkins.default_day(spec, after) == THURSDAY


def test_a_day_outside_the_event_is_refused_naming_the_field(rt: Runtime) -> None:
    slug = add_event(rt.store, rt.settings)
    anna = place(rt.store, slug, "Anna Beispiel")
    with pytest.raises(ValidationFailed) as caught:
        checkins.check_in(rt, slug, anna, True, date(2027, 11, 6), now=FRIDAY_MORNING)
    assert [p.field for p in caught.value.problems] == ["day"]
    assert caught.value.render("en") == "day: 2027-11-06 is not a day of the event (2027-11-04 to 2027-11-05)"
    assert "ist kein Tag der Veranstaltung" in caught.value.render("de")
    with pytest.raises(ValidationFailed) as caught:
        checkins.parse_day("5.11.2027")
    assert caught.value.render("en") == "day: '5.11.2027' is not a date (expected e.g. 2027-12-31)"
    assert checkins.parse_day(" 2027-11-05 ") == FRIDAY
    assert marks(rt, slug, anna) == {} and checked_in_at(rt, anna) is None


def test_only_a_registration_with_a_place_at_this_event(rt: Runtime) -> None:
    slug = add_event(rt.store, rt.settings)
    other = add_event(rt.store, rt.settings, TWO_DAYS + "slug: andere-vernetzung-2027\n")
    waiting = place(rt.store, slug, "Wanda Warteliste", status="waitlisted")
    elsewhere = place(rt.store, other, "Olga Other")
    assert not checkins.check_in(rt, slug, waiting, True, THURSDAY)
    assert not checkins.check_in(rt, slug, elsewhere, True, THURSDAY)
    assert not checkins.check_in(rt, slug, 999_999, True, THURSDAY)
    with rt.store.session() as session:
        assert session.scalar(select(func.count()).select_from(Checkin)) == 0


def test_counts_per_day(rt: Runtime) -> None:
    slug = add_event(rt.store, rt.settings)
    anna, berkan, chiara = (place(rt.store, slug, n) for n in ("Anna A", "Berkan B", "Chiara C"))
    for registration_id, day in ((anna, THURSDAY), (berkan, THURSDAY), (berkan, FRIDAY), (chiara, FRIDAY)):
        assert checkins.check_in(rt, slug, registration_id, True, day, now=THURSDAY_MORNING)
    record = checkins.of_event(rt, slug)
    assert record.per_day == {THURSDAY: 2, FRIDAY: 2}
    assert set(record.by_registration) == {anna, berkan, chiara}
    assert set(record.by_registration[berkan]) == {THURSDAY, FRIDAY}
    # someone who gives up their place afterwards no longer counts for the day
    with rt.store.session() as session:
        registration = session.get(Registration, chiara)
        assert registration is not None
        registration.status = "cancelled"
    assert checkins.of_event(rt, slug).per_day == {THURSDAY: 2, FRIDAY: 1}


def test_many_marks_of_the_same_day_at_once_make_one(rt: Runtime) -> None:
    slug = add_event(rt.store, rt.settings)
    anna = place(rt.store, slug, "Anna Beispiel")
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(checkins.check_in(rt, slug, anna, True, FRIDAY)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 4
    assert list(marks(rt, slug, anna)) == [FRIDAY]


def test_check_ins_go_with_their_registration(rt: Runtime) -> None:
    slug = add_event(rt.store, rt.settings)
    anna, berkan = place(rt.store, slug, "Anna Beispiel"), place(rt.store, slug, "Berkan Yıldız")
    for registration_id in (anna, berkan):
        for day in (THURSDAY, FRIDAY):
            assert checkins.check_in(rt, slug, registration_id, True, day, now=THURSDAY_MORNING)
    with rt.store.session() as session:  # the database deletes them (ON DELETE CASCADE, on SQLite too)
        session.delete(session.get(Registration, anna))
    report = privacy.forget_person(rt, "berkan@example.org")  # an unfunded event: nothing kept
    assert report.counts["registrations_deleted"] == 1
    with rt.store.session() as session:
        assert session.scalar(select(func.count()).select_from(Checkin)) == 0


def test_registering_again_after_a_cancellation_carries_no_attendance_over(rt: Runtime) -> None:
    from eventkit.model.registration_form import RegistrationInput
    from eventkit.registration.desk import submit

    slug = add_event(rt.store, rt.settings)
    anna = place(rt.store, slug, "Anna Beispiel")
    assert checkins.check_in(rt, slug, anna, True, THURSDAY, now=THURSDAY_MORNING)
    with rt.store.session() as session:  # as a cancellation leaves it
        registration = session.get(Registration, anna)
        assert registration is not None
        registration.status = "cancelled"
    again = RegistrationInput("Anna Beispiel", "anna@example.org", None, "de", {})
    outcome = submit(rt, slug, again, now=datetime(2027, 10, 1, tzinfo=UTC))
    assert outcome.registration_id == anna and outcome.status == "pending"
    assert marks(rt, slug, anna) == {}
    assert checked_in_at(rt, anna) is None


def test_the_export_and_the_purge_figures_have_the_days(rt: Runtime) -> None:
    slug = add_event(rt.store, rt.settings)
    anna, berkan = place(rt.store, slug, "Anna Beispiel"), place(rt.store, slug, "Berkan Yıldız")
    assert checkins.check_in(rt, slug, anna, True, THURSDAY, now=THURSDAY_MORNING)
    assert checkins.check_in(rt, slug, anna, True, FRIDAY, now=FRIDAY_MORNING)
    assert checkins.check_in(rt, slug, berkan, True, FRIDAY, now=FRIDAY_MORNING)
    [registration] = privacy.export_person(rt, "anna@example.org")["registrations"]
    assert registration["check_ins"] == [
        {"day": "2027-11-04", "at": THURSDAY_MORNING.isoformat()},
        {"day": "2027-11-05", "at": FRIDAY_MORNING.isoformat()},
    ]
    with rt.store.session() as session:
        figures = retention.figures(session, find_event(session, slug).id)
    assert figures["attended"] == 2 and figures["attended_per_day"] == {"2027-11-04": 1, "2027-11-05": 2}


def test_migration_0007_copies_each_check_in_to_its_day(settings: Settings) -> None:
    from alembic import command

    from eventkit.db.store import alembic_config

    store = Store(settings.database_url, migrate_schema=False)
    try:
        cfg = alembic_config(store.engine)
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0006")
        slug = add_event(store, settings)
        late = datetime(2027, 11, 4, 23, 30, tzinfo=UTC)  # Friday, 00:30 in Nürnberg
        before = datetime(2027, 10, 1, 12, 0, tzinfo=UTC)  # not a day of the event
        came = {
            place(store, slug, "Anna Beispiel"): THURSDAY_MORNING,
            place(store, slug, "Berkan Yıldız"): late,
            place(store, slug, "Chiara Rossi"): before,
        }
        place(store, slug, "Dora Daheim")  # never checked in
        with store.session() as session:
            for registration_id, at in came.items():
                registration = session.get(Registration, registration_id)
                assert registration is not None
                registration.checked_in_at = at
        migrate(store.engine)
        with store.session() as session:
            rows = {(c.registration_id, c.day, c.at) for c in session.scalars(select(Checkin))}
            kept = dict(session.execute(select(Registration.id, Registration.checked_in_at)).tuples().all())
            assert session.scalar(select(Event.slug)) == slug
        ids = list(came)
        assert rows == {(ids[0], THURSDAY, THURSDAY_MORNING), (ids[1], FRIDAY, late), (ids[2], THURSDAY, before)}
        assert {k: v for k, v in kept.items() if v is not None} == came  # checked_in_at stays as it was
    finally:
        store.dispose()
