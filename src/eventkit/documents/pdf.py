"""PDF documents from Jinja2 HTML and print CSS with WeasyPrint, fetching only files under allowed folders."""

from __future__ import annotations

import gc
import logging
import mimetypes
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from jinja2 import Environment
from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markupsafe import Markup
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from eventkit.core.render import Renderer
from eventkit.core.settings import Settings

log = logging.getLogger(__name__)

# tagged PDF (PDF/UA-1): screen readers get headings, lists, tables and the reading order
PDF_VARIANT = "pdf/ua-1"
# a file a template or a folder offers is an image, a stylesheet or a font; nothing larger is read
MAX_RESOURCE_BYTES = 20 * 1024 * 1024


class RefusedURL(ValueError):
    """A document asked for something outside the allowed folders (or over the network)."""


class SafeFetcher(URLFetcher):  # type: ignore[misc]
    """WeasyPrint's URL fetcher narrowed to `file:` URLs under `allowed_roots` and `data:` URLs.

    Everything else (http, https, ftp, a file elsewhere, a symlink leading out of a root) is refused
    before any connection or file access; `served` and `refused` list what was asked, for the log and tests.
    """

    def __init__(self, allowed_roots: Sequence[Path]):
        super().__init__(allowed_protocols=("file", "data"), allow_redirects=False, timeout=1)
        self.roots = tuple(Path(root).resolve() for root in allowed_roots)
        self.served: list[str] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()

    def _refuse(self, url: str, reason: str) -> RefusedURL:
        with self._lock:
            self.refused.append(url)
        log.warning("PDF: refused %s (%s)", url[:200], reason)
        return RefusedURL(f"{reason}: {url[:200]}")

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "data":
            with self._lock:
                self.served.append(url[:40])
            # decoded in memory by urllib's data: handler; no file and no network is touched
            return super().fetch(url, headers)
        if scheme != "file":
            raise self._refuse(url, "only files from the templates and the event's folder are used")
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise self._refuse(url, "a file on another host")
        try:
            path = Path(unquote(parts.path)).resolve(strict=True)
        except (OSError, RuntimeError):
            raise self._refuse(url, "no such file") from None
        if not any(path.is_relative_to(root) for root in self.roots) or not path.is_file():
            raise self._refuse(url, "outside the allowed folders")
        if path.stat().st_size > MAX_RESOURCE_BYTES:
            raise self._refuse(url, "file too large")
        data = path.read_bytes()
        with self._lock:
            self.served.append(str(path))
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(path.as_uri(), data, {"Content-Type": content_type})


_fonts = threading.local()


def _font_config() -> FontConfiguration:
    # one per thread: making it costs a fontconfig set-up, and it is not shared across threads
    config = getattr(_fonts, "config", None)
    if config is None:
        config = _fonts.config = FontConfiguration()
    return config


_pause_lock = threading.Lock()
_pausing = 0  # renders in progress (in any thread) that keep the cycle collector paused
_was_enabled = False


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while WeasyPrint lays out or paints a document.

    A document of a few thousand table cells is a few hundred thousand new objects; while they accumulate,
    the collector walks the whole heap (the process's modules included) again and again: about a quarter of
    the CPU time of a 500-name attendance list, more in a worker that has Prefect loaded. Nothing is lost:
    reference counting frees as before, the collector runs again when the last render in the process ends.
    """
    global _pausing, _was_enabled
    with _pause_lock:
        if _pausing == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pausing += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pausing -= 1
            if _pausing == 0 and _was_enabled:
                gc.enable()


class Rendered:
    """A laid-out document: count its pages, then write it with the options it was laid out with."""

    def __init__(self, document: Any, options: dict[str, Any]):
        self.document = document
        self.options = {k: v for k, v in options.items() if k != "font_config"}

    @property
    def pages(self) -> list[Any]:
        return list(self.document.pages)

    def write_pdf(self) -> bytes:
        with _cycle_collector_paused():
            result = self.document.write_pdf(**self.options)
        assert isinstance(result, bytes)
        return result


def render_document(
    html: str,
    *,
    base_dir: Path,
    allowed_roots: Sequence[Path],
    fetcher: SafeFetcher | None = None,
    variant: str | None = PDF_VARIANT,
) -> Rendered:
    """The laid-out document (its `pages` can be counted); `.write_pdf()` gives the bytes."""
    fetcher = fetcher if fetcher is not None else SafeFetcher(allowed_roots)
    options: dict[str, Any] = {"font_config": _font_config()}
    if variant:
        options["pdf_variant"] = variant
    with _cycle_collector_paused():
        document = HTML(string=html, base_url=Path(base_dir).resolve().as_uri() + "/", url_fetcher=fetcher)
        return Rendered(document.render(**options), options)


def render_pdf(
    html: str,
    *,
    base_dir: Path,
    allowed_roots: Sequence[Path],
    fetcher: SafeFetcher | None = None,
    variant: str | None = PDF_VARIANT,
) -> bytes:
    """The PDF of `html`; relative URLs resolve against `base_dir`, and only files under `allowed_roots`
    (and data: URLs) are read. Pass your own `fetcher` to see what was served and refused."""
    document = render_document(html, base_dir=base_dir, allowed_roots=allowed_roots, fetcher=fetcher, variant=variant)
    return document.write_pdf()


def _gender_star(state: StateInline, silent: bool) -> bool:
    """A star between two letters is the gender star of German texts (Teilnehmer*innen), not emphasis: left to
    CommonMark, two of them in a paragraph set everything between them in italics."""
    pos, src = state.pos, state.src
    if src[pos] != "*" or pos == 0 or pos + 1 >= state.posMax:
        return False
    if not (src[pos - 1].isalpha() and src[pos + 1].isalpha()):
        return False
    if not silent:
        state.pending += "*"
    state.pos += 1
    return True


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # html=False: tags in the text are shown as text; images are off so that no text can make the PDF
    # fetch anything (a link stays a link, and markdown-it refuses javascript:, file: and data: links)
    md = (
        MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
        .enable(["table", "strikethrough"])
        .disable("image")
    )
    md.inline.ruler.before("emphasis", "gender_star", _gender_star)
    return md


def css_string(value: object) -> Markup:
    """A text as a quoted CSS string: anything but letters, digits and spaces is a hex escape."""
    out = "".join(c if c.isalnum() or c == " " else f"\\{ord(c):06x}" for c in str(value))
    return Markup(f'"{out}"')  # noqa: S704 - every character that is not a letter, digit or space is escaped


def markdown_html(value: object) -> Markup:
    """Markdown an organiser wrote, as safe HTML (no raw HTML, no images)."""
    if value is None:
        return Markup("")
    return Markup(_markdown().render(str(value)))  # noqa: S704 - markdown-it escapes: raw HTML is off


@lru_cache(maxsize=4)
def _renderer(template_dir: Path) -> Renderer:
    return Renderer(template_dir)


@lru_cache(maxsize=32)
def _print_environment(template_dir: Path, format_name: str, language: str) -> Environment:
    # the email renderer's environment (loader: format first, then _base; i18n; date filters), as an
    # overlay with filters and globals of its own so that print additions never reach the emails
    base = _renderer(template_dir).environment(format_name, language)
    env = base.overlay()
    env.filters = dict(base.filters)
    env.globals = dict(base.globals)
    env.filters["markdown"] = markdown_html
    env.filters["css_string"] = css_string
    env.globals["template_url"] = template_dir.resolve().as_uri()
    return env


def print_environment(settings: Settings, format_name: str, language: str) -> Environment:
    """A Jinja2 environment for print templates: autoescape, format folder then _base, i18n, filters."""
    return _print_environment(Path(settings.template_dir), format_name, language)
