"""Jinja2 rendering of emails (and later pages) per format and language, format folder first, then _base."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, nodes, select_autoescape
from jinja2.ext import Extension
from jinja2.parser import Parser
from markupsafe import Markup, escape

from eventkit.core.i18n import gettext_for, normalise_language

_WS = re.compile(r"\s+")
_BR = Markup("<br>\n")
_SPACE = Markup(" ")


class SharedExtension(Extension):
    """`{% shared %}...{% endshared %}`: a part that is the same for every recipient of one event.

    When the caller passes a dict as `_shared` (one per event and language, e.g. for a batch of
    invitations), the part is rendered once and reused; without one it is rendered every time. A shared
    part must not use `recipient` or `links`; a test renders every email with and without the cache for
    different people and compares.
    """

    tags = {"shared"}

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endshared",), drop_needle=True)
        key = nodes.Const(f"{parser.name}:{lineno}")
        call = self.call_method("_render", [key, nodes.Name("_shared", "load")])
        return nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _render(self, key: str, cache: object, caller: Any) -> str:
        if not isinstance(cache, dict):
            return caller()  # type: ignore[no-any-return]
        if key not in cache:
            cache[key] = caller()
        return cache[key]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def _paragraphs(value: str) -> list[tuple[list[str], bool]]:
    """Free text as paragraphs (split at blank lines), each as its lines and whether they form a list."""
    out = []
    for para in str(value).strip().replace("\r\n", "\n").split("\n\n"):
        if para.strip():
            lines = para.strip().split("\n")
            out.append((lines, any(line.strip() and line.strip()[0] in "-*•" for line in lines)))
    return out


@lru_cache(maxsize=4096)
def paragraphs_text(value: str, label: str = "", width: int = 76) -> str:
    """Plain-text paragraphs wrapped at `width`; line breaks inside a paragraph are joined unless they
    make a list. Cached: an event's texts are the same in every recipient's email."""
    out = []
    for index, (lines, is_list) in enumerate(_paragraphs(value)):
        body = ("\n" if is_list else " ").join(line.strip() for line in lines)
        if index == 0 and label:
            body = f"{label}: {body}"
        out.append(
            "\n".join(
                "\n".join(
                    textwrap.wrap(
                        line,
                        width=width,
                        expand_tabs=False,
                        replace_whitespace=False,
                        break_long_words=False,
                        break_on_hyphens=False,
                    )
                )
                for line in body.split("\n")
            )
        )
    return "\n\n".join(out)


@lru_cache(maxsize=4096)
def paragraphs_html(value: str, label: str = "", style: str = "") -> Markup:
    """The same paragraphs as <p> elements, escaped; a list keeps its line breaks as <br>."""
    out = []
    for index, (lines, is_list) in enumerate(_paragraphs(value)):
        inner = (_BR if is_list else _SPACE).join(escape(line.strip()) for line in lines if line.strip())
        lead = Markup("<strong>%s:</strong> ") % label if index == 0 and label else ""
        out.append(Markup('<p style="%s">%s%s</p>\n') % (style, lead, inner))
    return Markup("").join(out)


def _filters(language: str) -> dict[str, Any]:
    # babel parses its locale on every call; an event's dates recur in every email, so results are cached
    locale = Locale.parse("de_DE" if language == "de" else "en_GB")

    @lru_cache(maxsize=1024)
    def date_long(value: date | datetime) -> str:
        return format_date(value, format="full", locale=locale)

    @lru_cache(maxsize=1024)
    def date_short(value: date | datetime) -> str:
        return format_date(value, format="medium", locale=locale)

    @lru_cache(maxsize=1024)
    def time_short(value: datetime) -> str:
        text = format_time(value, format="HH:mm", locale=locale, tzinfo=value.tzinfo)
        return f"{text} Uhr" if language == "de" else text

    @lru_cache(maxsize=1024)
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
        "paragraphs": paragraphs_text,
        "paragraphs_html": paragraphs_html,
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
            extensions=["jinja2.ext.i18n", SharedExtension],
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            # templates do not change while eventkit runs; checking their mtime on every email costs 5%
            auto_reload=False,
        )
        env.install_gettext_translations(gettext_for(language), newstyle=True)  # type: ignore[attr-defined]
        env.filters.update(_filters(language))
        env.globals["language"] = language
        env.globals["format_name"] = format_name
        env.globals["_shared"] = None
        return env

    def render(self, format_name: str, language: str, template: str, context: dict[str, Any]) -> str:
        return self.environment(format_name, language).get_template(template).render(context)

    def email(
        self,
        format_name: str,
        name: str,
        language: str,
        context: dict[str, Any],
        shared: dict[str, Any] | None = None,
    ) -> RenderedEmail:
        """Subject, text and HTML of email `name`; `shared` (one dict per event and language) lets the
        parts marked {% shared %} be rendered once for many recipients."""
        env = self.environment(format_name, language)
        if shared is not None:
            context = {**context, "_shared": shared}
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
