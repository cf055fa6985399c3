"""Registration integrity: no overbooking under concurrency, on SQLite and PostgreSQL; the waiting list."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from eventkit.events import EventNotFound, save_event
from eventkit.registrations import RegistrationClosed, cancel, counts, register
from eventkit.settings import Settings
from eventkit.spec import parse_spec
from eventkit.store import Registration, Store
from tests.conftest import TEMPLATES
from tests.test_spec import GOOD


def make_event(store: Store, settings: Settings, capacity: int) -> str:
    spec = parse_spec(GOOD.replace("capacity: 40", f"capacity: {capacity}"), TEMPLATES)
    save_event(store, settings, spec)
    return spec.slug


BEFORE_DEADLINE = datetime(2027, 11, 1, tzinfo=UTC)


def test_500_concurrent_registrations_for_50_places(store: Store, settings: Settings) -> None:
    slug = make_event(store, settings, capacity=50)

    def one(i: int) -> str:
        return register(store, slug, email=f"person{i}@example.org", name=f"Person {i}", now=BEFORE_DEADLINE).status

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(one, range(500)))
    assert statuses.count("registered") == 50
    assert statuses.count("waitlisted") == 450
    assert counts(store, slug) == {"registered": 50, "waitlisted": 450}


def test_registering_twice_returns_the_same_registration(store: Store, settings: Settings) -> None:
    slug = make_event(store, settings, capacity=2)
    first = register(store, slug, email="dmitri@example.org", name="Дмитрий Иванов", now=BEFORE_DEADLINE)
    again = register(store, slug, email="dmitri@example.org", name="Дмитрий Иванов", now=BEFORE_DEADLINE)
    assert again.registration_id == first.registration_id and not again.created and first.created
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Registration)) == 1


def test_a_cancellation_promotes_the_first_person_waiting(store: Store, settings: Settings) -> None:
    slug = make_event(store, settings, capacity=1)
    ayse = register(store, slug, email="ayse@example.org", name="Ayşe Yılmaz", now=BEFORE_DEADLINE)
    mohammed = register(store, slug, email="m@example.org", name="محمد الأحمد", now=BEFORE_DEADLINE)
    olena = register(store, slug, email="olena@example.org", name="Olena Kovalenko", now=BEFORE_DEADLINE)
    assert (ayse.status, mohammed.status, olena.status) == ("registered", "waitlisted", "waitlisted")
    promoted = cancel(store, slug, ayse.registration_id)
    assert promoted is not None and promoted.registration_id == mohammed.registration_id
    assert counts(store, slug) == {"cancelled": 1, "registered": 1, "waitlisted": 1}
    assert cancel(store, slug, olena.registration_id) is None  # a waiting place frees no place


def test_after_the_deadline_registration_is_closed(store: Store, settings: Settings) -> None:
    slug = make_event(store, settings, capacity=10)
    with pytest.raises(RegistrationClosed):
        register(store, slug, email="late@example.org", name="Spät", now=datetime(2027, 11, 17, tzinfo=UTC))
    with pytest.raises(EventNotFound):
        register(store, "no-such-event", email="a@example.org", name="A", now=BEFORE_DEADLINE)
