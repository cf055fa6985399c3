"""The schema made by the Alembic migrations is the schema of the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from eventkit.store import Base, Event, Person, Store


def test_migrations_match_the_models(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_migrate_twice_is_harmless(database_url: str) -> None:
    Store(database_url).dispose()
    Store(database_url).dispose()


def test_datetimes_come_back_aware_utc(store: Store) -> None:
    local = datetime(2025, 11, 22, 12, 0, tzinfo=timezone(timedelta(hours=1)))
    with store.session() as s:
        s.add(
            Event(
                slug="x",
                format="barcamp",
                title="T",
                language="de",
                timezone="Europe/Berlin",
                starts_at=local,
                ends_at=local + timedelta(hours=4),
                uid="x@example.org",
                spec={"title": "Dmitrij – Дмитрий"},
            )
        )
        s.add(Person(email="d@example.org", name="Дмитрий Иванов", language="de"))
    with store.session() as s:
        event = s.scalar(select(Event))
        person = s.scalar(select(Person))
    assert event is not None and person is not None
    assert event.starts_at == local and event.starts_at.tzinfo == UTC
    assert event.spec["title"] == "Dmitrij – Дмитрий"
    assert person.name == "Дмитрий Иванов"
