"""The organiser's recap input: checked for the format, kept with its photos in the event's folder."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from eventkit.core.files import event_dir, write_atomic
from eventkit.core.validation import Problems, read_text_file
from eventkit.core.yamlfile import parse_yaml
from eventkit.events.events import find_event, format_for
from eventkit.model.base import validated
from eventkit.model.formats import Format
from eventkit.model.recap import Photo, Recap, recap_model
from eventkit.recap.photos import check_files, scaled_copy
from eventkit.runtime import Runtime

RECAP_FILE = "recap.yaml"


def validate(
    data: Any,
    fmt: Format,
    *,
    source: str = "<recap>",
    lines: Mapping[tuple[Any, ...], int] | None = None,
    slug: str | None = None,
) -> Recap:
    """The recap input (parsed YAML or a form's data) checked for the format; ValidationFailed names
    every field that is wrong and why. Photo files are checked by load_recap/store_recap."""
    return validated(recap_model(fmt), data, Problems(source, lines or {}), slug=slug)


def parse_recap(text: str, fmt: Format, *, source: str = "<recap>", slug: str | None = None) -> Recap:
    doc = parse_yaml(text, source)
    return validate(doc.data, fmt, source=source, lines=doc.lines, slug=slug)


def load_recap(path: Path, fmt: Format, *, slug: str | None = None) -> Recap:
    """Read and check a recap file and the photos and logos it names (relative to its folder)."""
    source = str(path)
    text = read_text_file(path)
    recap = parse_recap(text, fmt, source=source, slug=slug)
    check_files(recap, path.parent, source)
    return recap


def event_format(rt: Runtime, slug: str) -> Format:
    """The format of the event, whose format.yaml gives the recap's own sections."""
    with rt.store.session() as session:
        name = find_event(session, slug).format
    return format_for(rt.settings, name)


def store_recap(rt: Runtime, slug: str, recap: Recap, source_dir: Path | None = None) -> Path:
    """Keep the recap input in the event's folder (photos scaled for print, logos copied), so that later
    runs find it and the PDF reads files from that folder only. Written as a whole or not at all."""
    folder = event_dir(rt.settings, slug)
    folder.mkdir(parents=True, exist_ok=True)
    base = source_dir or folder
    if source_dir is not None:
        check_files(recap, source_dir, str(source_dir))
    photos: list[Photo] = []
    logos: list[str] = []
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
    try:
        for i, photo in enumerate(recap.photos):
            name = f"photos/{i + 1:02d}-{Path(photo.file).stem[:60]}.jpg"
            scaled_copy(base / photo.file, staging / name)
            photos.append(Photo(file=name, caption=photo.caption, usable=photo.usable, people=photo.people))
        for i, logo in enumerate(recap.logos):
            name = f"logos/{i + 1:02d}-{Path(logo).name[-60:]}"
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(base / logo, staging / name)
            logos.append(name)
        for sub in ("photos", "logos"):
            target = folder / sub
            if (staging / sub).exists() or target.exists():
                old = folder / f".old-{sub}"
                shutil.rmtree(old, ignore_errors=True)
                if target.exists():
                    target.rename(old)
                if (staging / sub).exists():
                    (staging / sub).rename(target)
                shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    kept = recap.changed(photos=tuple(photos), logos=tuple(logos))
    data = {"event": slug, **_plain(kept.to_data())}
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    return write_atomic(folder / RECAP_FILE, text.encode("utf-8"))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def stored_recap(rt: Runtime, slug: str) -> Recap | None:
    """The recap input kept in the event's folder, if the organiser has given one."""
    path = event_dir(rt.settings, slug) / RECAP_FILE
    if not path.is_file():
        return None
    return load_recap(path, event_format(rt, slug), slug=slug)


def take_input(rt: Runtime, slug: str, path: Path) -> Recap:
    """A recap file from the organiser: checked, then kept (with its photos) in the event's folder."""
    recap = load_recap(path, event_format(rt, slug), slug=slug)
    store_recap(rt, slug, recap, path.parent)
    stored = stored_recap(rt, slug)
    assert stored is not None
    return stored


def take_data(rt: Runtime, slug: str, data: dict[str, Any], *, source: str = "form") -> Recap:
    """A recap from the Prefect UI form (no photos can be uploaded there: photos named in it must be in the
    event's folder already)."""
    recap = validate(data, event_format(rt, slug), source=source, slug=slug)
    folder = event_dir(rt.settings, slug)
    check_files(recap, folder, source)
    if recap.photos or recap.logos:
        staging = Path(tempfile.mkdtemp(prefix=".form-", dir=folder))
        try:
            for name in (*(p.file for p in recap.photos), *recap.logos):
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(folder / name, staging / name)
            store_recap(rt, slug, recap, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    else:
        store_recap(rt, slug, recap, None)
    stored = stored_recap(rt, slug)
    assert stored is not None
    return stored
