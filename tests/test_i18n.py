"""Every text a person reads has a German translation; catalogues load; languages are chosen per person."""

from __future__ import annotations

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from eventkit.core.i18n import LOCALE_DIR, gettext_for, normalise_language
from eventkit.core.settings import PROJECT_ROOT

KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "translate": (2,)}


def extracted() -> set[str]:
    method_map = [
        ("src/**.py", "python"),
        ("templates/**.html", "jinja2"),
        ("templates/**.txt", "jinja2"),
        ("**", "ignore"),
    ]
    options = {
        # the renderer's own tag ({% shared %}) must be known, or babel drops the template without a word
        "templates/**.html": {
            "extensions": "jinja2.ext.i18n,eventkit.core.render.SharedExtension",
            "trimmed": "true",
            "silent": "false",
        },
        "templates/**.txt": {
            "extensions": "jinja2.ext.i18n,eventkit.core.render.SharedExtension",
            "trimmed": "true",
            "silent": "false",
        },
    }
    ids: set[str] = set()

    def wanted(dirpath: str) -> bool:
        # babel skips folders starting with "_" by default, which would leave out templates/_base
        name = dirpath.rstrip("/").rsplit("/", 1)[-1]
        return not name.startswith(".") and name not in ("__pycache__", "var", "demo-output", "node_modules")

    for _file, _line, message, _comments, _ctx in extract_from_dir(
        PROJECT_ROOT, method_map, options, keywords=KEYWORDS, directory_filter=wanted
    ):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def test_every_message_has_a_german_translation() -> None:
    with (LOCALE_DIR / "de" / "LC_MESSAGES" / "eventkit.po").open("rb") as fh:
        catalog = read_po(fh, locale="de")
    translated = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id and m.string and not m.fuzzy}
    missing = sorted(extracted() - translated)
    assert missing == [], "untranslated (update templates/locale/de): " + "\n".join(missing[:40])


def test_catalogues_load_and_differ() -> None:
    assert gettext_for("de").gettext("is required") == "ist erforderlich"
    assert gettext_for("en").gettext("is required") == "is required"


def test_language_normalisation() -> None:
    assert normalise_language("de-DE") == "de"
    assert normalise_language("EN_gb") == "en"
    assert normalise_language("fr") == "de"
    assert normalise_language(None) == "de"
