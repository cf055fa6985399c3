"""Per-runtime state: a slot's value is made once per runtime, and a new runtime starts without any."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from eventkit import runtime
from eventkit.runtime import Runtime, Slot
from tests.conftest import make_settings

made: list[Runtime] = []


def _make(rt: Runtime) -> dict[str, int]:
    made.append(rt)
    return {}


COUNTS = Slot("counts", _make)
NOTHING: Slot[None] = Slot("nothing", lambda rt: made.append(rt))


def test_a_slot_is_made_once_per_runtime_on_first_use(tmp_path: Path) -> None:
    made.clear()
    settings = make_settings(tmp_path, "sqlite://")
    first, second = Runtime.from_settings(settings), Runtime.from_settings(settings)
    assert made == []
    first.local(COUNTS)["x"] = 1
    assert first.local(COUNTS) == {"x": 1}
    assert second.local(COUNTS) == {}
    assert made == [first, second]
    first.store.dispose()
    second.store.dispose()


def test_a_slot_whose_value_is_none_is_made_once(tmp_path: Path) -> None:
    made.clear()
    rt = Runtime.from_settings(make_settings(tmp_path, "sqlite://"))
    assert rt.local(NOTHING) is None
    assert rt.local(NOTHING) is None
    assert made == [rt]
    rt.store.dispose()


def test_threads_asking_at_once_get_one_value(tmp_path: Path) -> None:
    rt = Runtime.from_settings(make_settings(tmp_path, "sqlite://"))
    start = threading.Barrier(8)
    seen: list[dict[str, int]] = []

    def ask() -> None:
        start.wait()
        seen.append(rt.local(COUNTS))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and all(value is seen[0] for value in seen)
    rt.store.dispose()


def test_a_reconfigured_runtime_starts_without_the_old_ones_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "_current", None)  # the process's runtime as it was comes back afterwards
    settings = make_settings(tmp_path, "sqlite://")
    old = runtime.configure(settings)
    old.local(COUNTS)["x"] = 1
    new = runtime.configure(settings)
    assert runtime.get() is new
    assert new.local(COUNTS) == {}
    new.store.dispose()
