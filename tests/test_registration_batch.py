"""The group commit: requests that arrive while a batch is written are written together, in arrival order."""

from __future__ import annotations

import threading
import time

from eventkit.registration.batch import Desk


def _queued(desk: Desk[str], n: int) -> None:
    deadline = time.monotonic() + 10
    while len(desk._queue) < n:
        assert time.monotonic() < deadline, "the requests did not arrive at the desk"
        time.sleep(0.001)


def test_what_arrives_during_a_batch_is_written_next_per_key_in_order_and_in_batches_of_size() -> None:
    desk: Desk[str] = Desk(size=2)
    written: list[tuple[str, list[str]]] = []
    first_writing, release = threading.Event(), threading.Event()

    def write(key: str, items: list[str]) -> None:
        written.append((key, items))
        if items == ["a1"]:
            first_writing.set()
            assert release.wait(10)

    threads = [threading.Thread(target=desk.run, args=("a", "a1", write))]
    threads[0].start()
    assert first_writing.wait(10)
    for n, (key, item) in enumerate([("a", "a2"), ("b", "b1"), ("a", "a3"), ("a", "a4")], start=1):
        threads.append(threading.Thread(target=desk.run, args=(key, item, write)))
        threads[-1].start()
        _queued(desk, n)  # arrived, in this order
    release.set()
    for t in threads:
        t.join(10)
    assert written == [("a", ["a1"]), ("a", ["a2", "a3"]), ("b", ["b1"]), ("a", ["a4"])]


def test_alone_a_request_is_a_batch_of_one_written_by_its_own_thread() -> None:
    desk: Desk[str] = Desk()
    writers: list[threading.Thread] = []
    desk.run("a", "a1", lambda key, items: writers.append(threading.current_thread()))
    desk.run("a", "a2", lambda key, items: writers.append(threading.current_thread()))
    assert writers == [threading.current_thread()] * 2
