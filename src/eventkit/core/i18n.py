"""Gettext catalogues (German by default, English on request), compiled from templates/locale at load."""

from __future__ import annotations

import gettext
import io
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from eventkit.core.settings import PROJECT_ROOT

LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"
LOCALE_DIR = PROJECT_ROOT / "templates" / "locale"
DOMAIN = "eventkit"


def normalise_language(value: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """Map 'DE', 'de-DE', 'en_GB' and the like onto a supported language, or the default."""
    if not value:
        return default
    base = value.strip().replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else default


@lru_cache(maxsize=8)
def translations(language: str, locale_dir: Path = LOCALE_DIR) -> gettext.NullTranslations:
    """The catalogue for one language; the .po file is the source of truth, compiled in memory."""
    po_path = locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_path.is_file():
        return gettext.NullTranslations()
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def gettext_for(language: str) -> gettext.NullTranslations:
    return translations(normalise_language(language))
