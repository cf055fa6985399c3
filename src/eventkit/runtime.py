"""The process's settings, store and renderer, made once and shared by the CLI, the flows and the web app."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from eventkit.core.render import Renderer
from eventkit.core.settings import Settings
from eventkit.db.store import Store


@dataclass
class Runtime:
    settings: Settings
    store: Store
    renderer: Renderer
    # at most EVENTKIT_SMTP_CONCURRENCY connections to the relay at once from this process
    smtp_slots: threading.BoundedSemaphore

    @classmethod
    def from_settings(cls, settings: Settings, *, migrate_schema: bool = True) -> Runtime:
        return cls(
            settings,
            Store(settings.database_url, migrate_schema=migrate_schema),
            Renderer(settings.template_dir),
            threading.BoundedSemaphore(settings.smtp_concurrency),
        )


_lock = threading.Lock()
_current: Runtime | None = None


def configure(settings: Settings | None = None) -> Runtime:
    """Make (or remake, e.g. in a test with other settings) the runtime from settings or the environment."""
    global _current
    with _lock:
        if _current is not None:
            _current.store.dispose()
        settings = settings or Settings.from_env()
        _current = Runtime.from_settings(settings)
        return _current


def get() -> Runtime:
    with _lock:
        current = _current
    return current if current is not None else configure()
