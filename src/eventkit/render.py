"""Jinja2 rendering of emails (and later pages) per format and language, format folder first, then _base."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime, format_time
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from eventkit.i18n import gettext_for, normalise_language

_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def _filters(language: str) -> dict[str, Any]:
    locale = "de_DE" if language == "de" else "en_GB"

    def date_long(value: date | datetime) -> str:
        return format_date(value, format="full", locale=locale)

    def date_short(value: date | datetime) -> str:
        return format_date(value, format="medium", locale=locale)

    def time_short(value: datetime) -> str:
        text = format_time(value, format="HH:mm", locale=locale, tzinfo=value.tzinfo)
        return f"{text} Uhr" if language == "de" else text

    def datetime_long(value: datetime) -> str:
        return format_datetime(value, format="full", locale=locale, tzinfo=value.tzinfo)

    def nl2br(value: str) -> Markup:
        return Markup("<br>\n").join(escape(line) for line in str(value).splitlines())

    def oneline(value: str) -> str:
        return _WS.sub(" ", str(value)).strip()

    return {
        "date_long": date_long,
        "date_short": date_short,
        "time_short": time_short,
        "datetime_long": datetime_long,
        "nl2br": nl2br,
        "oneline": oneline,
    }


class Renderer:
    """Looks up a template in templates/formats/<format>/ first, then in templates/_base/."""

    def __init__(self, template_dir: Path):
        self.template_dir = template_dir

    @lru_cache(maxsize=32)  # noqa: B019 - a renderer lives as long as the process
    def environment(self, format_name: str, language: str) -> Environment:
        language = normalise_language(language)
        loader = ChoiceLoader(
            [
                FileSystemLoader(self.template_dir / "formats" / format_name),
                FileSystemLoader(self.template_dir / "_base"),
            ]
        )
        env = Environment(
            loader=loader,
            autoescape=select_autoescape(enabled_extensions=("html", "htm", "xml"), default_for_string=True),
            extensions=["jinja2.ext.i18n"],
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        env.install_gettext_translations(gettext_for(language), newstyle=True)  # type: ignore[attr-defined]
        env.filters.update(_filters(language))
        env.globals["language"] = language
        env.globals["format_name"] = format_name
        return env

    def render(self, format_name: str, language: str, template: str, context: dict[str, Any]) -> str:
        return self.environment(format_name, language).get_template(template).render(context)

    def email(self, format_name: str, name: str, language: str, context: dict[str, Any]) -> RenderedEmail:
        env = self.environment(format_name, language)
        subject = env.get_template(f"email/{name}/subject.txt").render(context)
        text = env.get_template(f"email/{name}/body.txt").render(context)
        html = env.get_template(f"email/{name}/body.html").render(context)
        # a subject is one line whatever a template or a field put into it: no header can be smuggled in
        return RenderedEmail(_WS.sub(" ", subject).strip(), _tidy_text(text), html)

    def email_names(self, format_name: str) -> list[str]:
        names: set[str] = set()
        for root in (
            self.template_dir / "_base" / "email",
            self.template_dir / "formats" / format_name / "email",
        ):
            if root.is_dir():
                names.update(p.name for p in root.iterdir() if (p / "subject.txt").exists() or p.is_dir())
        return sorted(n for n in names if not n.startswith("_"))


def _tidy_text(text: str) -> str:
    """At most one blank line in a row, no trailing spaces: plain text is read as it is."""
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line == "" and (not out or out[-1] == ""):
            continue
        out.append(line)
    return "\n".join(out).strip() + "\n"


def translate(language: str, message: str, **params: Any) -> str:
    text = gettext_for(language).gettext(message)
    return text % params if params else text
