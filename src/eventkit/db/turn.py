"""The write turn of a SQLite file: its writers, in all of eventkit's processes, take turns in order."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from pathlib import Path

SQLITE_TIMEOUT = 30.0  # seconds a writer waits for the write lock of a SQLite file


class FileTurn:
    """The write turn of one SQLite file, shared by every process of eventkit that writes to it (the web app,
    its delivery process, flow runs, the CLI): an exclusive flock(2) on a lock file next to the database,
    taken before the transaction's write lock and given back after its commit.

    SQLite's own lock cannot queue: a writer that finds the file locked sleeps (1, 2, 5, ... up to 100 ms
    between tries) and a process that writes again and again wins the lock over and over, so a registration
    could wait a second for the delivery's writes. A writer waiting for its turn asks again every 2 ms at
    most, and gives up after SQLITE_TIMEOUT as SQLite would ("database is locked"). Within a process, a
    thread lock comes first (one open file shares one flock); every Store of the same file in a process uses
    the same turn (for_file)."""

    def __init__(self, path: Path):
        self.path = path
        self._thread_lock = threading.Lock()
        self._fd: int | None = None

    def __enter__(self) -> None:
        if not self._thread_lock.acquire(timeout=SQLITE_TIMEOUT):
            # what SQLite itself says when its lock stays taken: a transaction nested in another of the same thread
            raise sqlite3.OperationalError("database is locked (eventkit's write turn stayed taken)")
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            _flock(self._fd, time.monotonic() + SQLITE_TIMEOUT)
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def _after_fork(self) -> None:
        # a forked child shares the parent's open lock file, and with it its flock, and may have been forked
        # while another thread held the turn: the turn starts again, with its own open file
        self._thread_lock = threading.Lock()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _flock(fd: int, deadline: float) -> None:
    """An exclusive flock, waited for until the deadline (a blocking flock cannot be given a time limit)."""
    pause = 0.0002
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise sqlite3.OperationalError(
                    "database is locked (another process kept eventkit's write turn)"
                ) from None
            time.sleep(pause)
            pause = min(pause * 2, 0.002)


# one turn per file and process, not per Store: a lock file is a resource of the process (its flock is held
# by an open file, and a fork copies the open files), whichever of its stores writes
_turns: dict[Path, FileTurn] = {}
_turns_lock = threading.Lock()


def for_file(database: str) -> FileTurn:
    """This process's write turn for the SQLite file at `database`."""
    path = Path(database).resolve()
    path = path.with_name(path.name + ".writer-lock")
    with _turns_lock:
        turn = _turns.get(path)
        if turn is None:
            turn = _turns[path] = FileTurn(path)
        return turn


def _after_fork() -> None:
    global _turns_lock
    _turns_lock = threading.Lock()
    for turn in _turns.values():
        turn._after_fork()


os.register_at_fork(after_in_child=_after_fork)
