"""The schema made by the Alembic migrations is the schema of the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, select

import eventkit.db.turn
from eventkit.db.store import Base, Event, Person, Store


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


# --- the write turn of a SQLite file, shared by eventkit's processes --------------------------------------


def _hold_turn(url: str, held: Any, release: Any) -> None:
    """In another process: take the store's write turn, say so, and keep it until told to give it back."""
    child = Store(url, migrate_schema=False)
    with child.write_turn():
        held.set()
        release.wait(30)
    child.dispose()


def _writer(store: Store, email: str, name: str) -> tuple[threading.Thread, threading.Event]:
    """A thread that writes one person to the store, and the event it sets when it has."""
    wrote = threading.Event()

    def write() -> None:
        with store.writing() as connection:
            connection.execute(insert(Person).values(email=email, name=name, language="de"))
        wrote.set()

    thread = threading.Thread(target=write)
    thread.start()
    return thread, wrote


def test_a_writer_waits_for_another_processs_write_turn_and_then_goes_on(tmp_path: Path) -> None:
    """The web app and its delivery process write to the same SQLite file: a writer waits while the other
    process has its turn (queued on the turn's lock file, not polling SQLite's lock) and writes when it ends."""
    url = f"sqlite:///{tmp_path / 'eventkit.sqlite3'}"
    store = Store(url)
    context = multiprocessing.get_context("spawn")
    held, release = context.Event(), context.Event()
    other = context.Process(target=_hold_turn, args=(url, held, release))
    other.start()
    try:
        assert held.wait(30), "the other process did not take the write turn"
        writer, wrote = _writer(store, "mueller@example.org", "Jörg Müller")
        assert not wrote.wait(1.0), "wrote during the other process's turn"
        release.set()
        writer.join(30)
        assert wrote.is_set()
    finally:
        release.set()
        other.join(30)
    assert other.exitcode == 0
    with store.session() as s:
        assert list(s.scalars(select(Person.email))) == ["mueller@example.org"]
    store.dispose()


def test_a_forked_child_has_a_write_turn_of_its_own(tmp_path: Path) -> None:
    """A process forked from one that has used the turn opens its own lock file: while the child has its turn,
    the parent waits (sharing the parent's open file would let both write at once)."""
    store = Store(f"sqlite:///{tmp_path / 'eventkit.sqlite3'}")
    with store.write_turn():
        pass  # the parent's lock file is open now
    held_r, held_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: take the turn, say so, keep it until the parent says go
        try:
            with store.write_turn():
                os.write(held_w, b"held")
                os.read(go_r, 2)
        finally:
            os._exit(0)
    try:
        assert os.read(held_r, 4) == b"held"
        writer, wrote = _writer(store, "after@example.org", "محمد")
        assert not wrote.wait(1.0), "the parent wrote during its child's turn"
    finally:
        os.write(go_w, b"go")
        os.waitpid(pid, 0)
    writer.join(30)
    assert wrote.is_set()
    for fd in (held_r, held_w, go_r, go_w):
        os.close(fd)
    store.dispose()


def test_a_writer_gives_up_when_another_process_keeps_the_write_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that keeps its turn (stuck in a transaction) makes the others wait as long as SQLite would,
    and then fail with SQLite's own words, not hang; nothing is written."""
    url = f"sqlite:///{tmp_path / 'eventkit.sqlite3'}"
    store = Store(url)
    monkeypatch.setattr(eventkit.db.turn, "SQLITE_TIMEOUT", 0.5)
    context = multiprocessing.get_context("spawn")
    held, release = context.Event(), context.Event()
    other = context.Process(target=_hold_turn, args=(url, held, release))
    other.start()
    try:
        assert held.wait(30)
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            with store.writing() as connection:
                connection.execute(insert(Person).values(email="x@example.org", name="Anna", language="de"))
    finally:
        release.set()
        other.join(30)
    with store.writing() as connection:  # the turn is free again
        connection.execute(insert(Person).values(email="y@example.org", name="Kofi Mensah", language="de"))
    with store.session() as s:
        assert list(s.scalars(select(Person.email))) == ["y@example.org"]
    store.dispose()
