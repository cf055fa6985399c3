"""Where an event's files live, and writing a file so that a reader never sees half of it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from eventkit.core.settings import Settings


def events_dir(settings: Settings) -> Path:
    """The folder that holds every event's own folder."""
    return settings.var_dir / "events"


def event_dir(settings: Settings, slug: str) -> Path:
    """The event's own data folder: its recap input, photos, logos and PDFs (the only files a PDF may read)."""
    return events_dir(settings) / slug


def write_atomic(path: Path, data: bytes | str, *, durable: bool = True) -> Path:
    """Write the whole file or nothing: a temporary file in the same folder, flushed to disk, then renamed.

    durable=False skips the fsync: the rename still shows a reader all or nothing, but a power cut may lose it.

    Returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
