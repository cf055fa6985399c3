"""The recap's photos and logos: checked as images, scaled for print, a photo used only with consent."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from eventkit.core.validation import N_, Problems
from eventkit.model.recap import Photo, Recap
from eventkit.recap.participants import Participant

PHOTO_TYPES = {"JPEG", "PNG", "WEBP", "GIF"}
MAX_PHOTO_BYTES = 30 * 1024 * 1024
# photos are scaled to this many pixels on their long side: sharp in print, a PDF small enough to send
PHOTO_MAX_PX = 1600


def check_files(recap: Recap, base: Path, source: str) -> None:
    """Every photo and logo exists under `base` and is an image Pillow can read."""
    problems = Problems(source)
    for i, photo in enumerate(recap.photos):
        _check_image(base, photo.file, ("photos", i, "file"), problems)
    for i, logo in enumerate(recap.logos):
        _check_image(base, logo, ("logos", i), problems)
    problems.raise_if_any()


def _check_image(base: Path, name: str, path: tuple[Any, ...], problems: Problems) -> None:
    file = (base / name).resolve()
    if not file.is_relative_to(base.resolve()) or not file.is_file():
        problems.add(path, N_("file %(value)s not found next to the recap"), value=name)
        return
    if file.stat().st_size > MAX_PHOTO_BYTES:
        problems.add(path, N_("file %(value)s is larger than 30 MB"), value=name)
        return
    try:
        with Image.open(file) as img:
            kind = img.format
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        problems.add(path, N_("%(value)s is not an image eventkit can read (JPEG, PNG, WebP or GIF)"), value=name)
        return
    if kind not in PHOTO_TYPES:
        problems.add(path, N_("%(value)s is not an image eventkit can read (JPEG, PNG, WebP or GIF)"), value=name)


def scaled_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as original:
        original.draft("RGB", (PHOTO_MAX_PX, PHOTO_MAX_PX))  # JPEG: decode at a reduced size, much faster
        img = ImageOps.exif_transpose(original)
        img.thumbnail((PHOTO_MAX_PX, PHOTO_MAX_PX))
        img.convert("RGB").save(target, "JPEG", quality=82, optimize=True)


@dataclass(frozen=True)
class PhotoDecision:
    photo: Photo
    used: bool
    reason: str = ""


def photo_decisions(recap: Recap, people: list[Participant]) -> list[PhotoDecision]:
    """A photo is used when the organiser marked it usable and every recognisable person on it is registered
    and agreed to photos (registration answer photo_consent)."""
    consent = {p.email for p in people if p.answers.get("photo_consent") is True}
    known = {p.email for p in people}
    out = []
    for photo in recap.photos:
        if not photo.usable:
            out.append(PhotoDecision(photo, False, "not marked usable by the organiser"))
            continue
        unknown = [e for e in photo.people if e not in known]
        refused = [e for e in photo.people if e in known and e not in consent]
        if unknown:
            out.append(PhotoDecision(photo, False, f"{len(unknown)} person(s) on it not registered: no consent"))
        elif refused:
            out.append(PhotoDecision(photo, False, f"{len(refused)} person(s) on it without photo consent"))
        else:
            out.append(PhotoDecision(photo, True))
    return out
