"""Group commit: requests that arrive together are written together, in the order they came, by one of them."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# writes a batch: the requests of one key (an event's slug) in arrival order, recording their outcomes on them
Write = Callable[[str, list[T]], None]


class _Waiting(Generic[T]):
    """A request at the desk: done once its batch is written; woken then, or when it is to lead the next."""

    __slots__ = ("key", "item", "done", "wake")

    def __init__(self, key: str, item: T):
        self.key, self.item = key, item
        self.done = False
        self.wake = threading.Event()


class Desk(Generic[T]):
    """Group commit (leader and followers, no thread of its own); one per runtime, for one kind of request.

    The first request to arrive when no batch is being written writes one: every waiting request with the
    same key (up to `size`), in arrival order, in one call of `write` (for registrations: one transaction,
    one lock of the event and one commit). Requests that arrive meanwhile wait; when the batch is written they
    are done, and the first of those still waiting leads the next batch. Under load this turns fifty lock
    waits, transactions and commits into one, and answers in the order of arrival; alone, a request is a
    batch of one.
    """

    def __init__(self, size: int = 64):
        self.size = size
        self._lock = threading.Lock()
        self._queue: deque[_Waiting[T]] = deque()
        self._busy = False

    def run(self, key: str, item: T, write: Write[T]) -> None:
        """Return once `item` has been written, in a batch with others of its key (by this thread or another)."""
        waiting = _Waiting(key, item)
        with self._lock:
            self._queue.append(waiting)
            leading = not self._busy
            self._busy = True
        if not leading:
            waiting.wake.wait()  # until done, or handed the lead (then it is first in the queue)
        if not waiting.done:
            self._lead(write)

    def _lead(self, write: Write[T]) -> None:
        with self._lock:
            key = self._queue[0].key
            batch = [w for w in self._queue if w.key == key][: self.size]
            for w in batch:
                self._queue.remove(w)
        try:
            write(key, [w.item for w in batch])
        finally:
            with self._lock:
                if self._queue:
                    self._queue[0].wake.set()  # not done: it leads the next batch
                else:
                    self._busy = False
            for w in batch:
                w.done = True
                w.wake.set()
