"""The process's settings, store and renderer, made once and shared by the CLI, the flows and the web app."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from eventkit.core.render import Renderer
from eventkit.core.settings import Settings
from eventkit.db.store import Store

T = TypeVar("T")


class Slot(Generic[T]):
    """A kind of state that code above the runtime keeps per runtime (a cache, a batcher, a pacer): defined once,
    at module level, by the code that uses it; `rt.local(slot)` gives this runtime's, made by `make` on first use.

    A new runtime (configure() in a test, the web app's delivery process) starts with none of it. Two threads
    asking at once for a value not made yet may both make one; one of them is kept, and both get that one."""

    __slots__ = ("name", "make")

    def __init__(self, name: str, make: Callable[[Runtime], T]):
        self.name = name
        self.make = make

    def __repr__(self) -> str:
        return f"Slot({self.name!r})"


@dataclass
class Runtime:
    settings: Settings
    store: Store
    renderer: Renderer
    # at most EVENTKIT_SMTP_CONCURRENCY connections to the relay at once from this process
    smtp_slots: threading.BoundedSemaphore
    _locals: dict[Slot[Any], Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings, *, migrate_schema: bool = True) -> Runtime:
        return cls(
            settings,
            Store(settings.database_url, migrate_schema=migrate_schema),
            Renderer(settings.template_dir),
            threading.BoundedSemaphore(settings.smtp_concurrency),
        )

    def local(self, slot: Slot[T]) -> T:
        """This runtime's value of the slot (see Slot): a dict lookup once it is made, no lock."""
        try:
            return cast(T, self._locals[slot])
        except KeyError:
            # setdefault is atomic: of two threads that made one at once, both get the one kept
            return cast(T, self._locals.setdefault(slot, slot.make(self)))


_lock = threading.Lock()
_current: Runtime | None = None


def configure(settings: Settings | None = None, *, migrate_schema: bool = True) -> Runtime:
    """Make (or remake, e.g. in a test with other settings) the runtime from settings or the environment."""
    global _current
    with _lock:
        if _current is not None:
            _current.store.dispose()
        settings = settings or Settings.from_env()
        _current = Runtime.from_settings(settings, migrate_schema=migrate_schema)
        return _current


def get() -> Runtime:
    with _lock:
        current = _current
    return current if current is not None else configure()
