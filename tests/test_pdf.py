"""The PDF layer: a URL fetcher that reads only allowed folders, safe Markdown, the print environment."""

from __future__ import annotations

import gc
import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventkit.core.files import write_atomic
from eventkit.core.settings import Settings
from eventkit.documents.pdf import (
    RefusedURL,
    SafeFetcher,
    css_string,
    markdown_html,
    print_environment,
    render_document,
    render_pdf,
)
from tests.conftest import TEMPLATES

BIDI = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def pdf_text(data: bytes, tmp_path: Path, *, layout: bool = True) -> str:
    """pdftotext's reading of a PDF (words joined by single spaces), without the bidi marks it adds around
    right-to-left runs; layout=False reads table cells one after the other instead of line by line."""
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    args = ["pdftotext", *(["-layout"] if layout else []), str(path), "-"]
    out = subprocess.run(args, capture_output=True, check=True, text=True)
    return " ".join(out.stdout.translate(BIDI).split())


class Hits:
    def __init__(self) -> None:
        self.paths: list[str] = []


@pytest.fixture
def http_server() -> Iterator[tuple[str, Hits]]:
    """A local HTTP server that counts every request: a document must never reach it."""
    hits = Hits()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            hits.paths.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def test_fetcher_serves_files_under_its_roots_and_data_urls(tmp_path: Path) -> None:
    root = tmp_path / "event"
    root.mkdir()
    (root / "logo.png").write_bytes(b"\x89PNG fake")
    fetcher = SafeFetcher([root])
    response = fetcher.fetch((root / "logo.png").as_uri())
    assert response.read() == b"\x89PNG fake" and response.content_type == "image/png"
    assert fetcher.fetch("data:text/plain;base64,aGFsbG8=").read() == b"hallo"
    assert fetcher.refused == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "http://169.254.169.254/latest/meta-data/",
        "https://example.org/logo.png",
        "ftp://example.org/x",
        "file://otherhost/etc/passwd",
        "javascript:alert(1)",
    ],
)
def test_fetcher_refuses_everything_else(tmp_path: Path, url: str) -> None:
    fetcher = SafeFetcher([tmp_path])
    with pytest.raises(RefusedURL):
        fetcher.fetch(url)
    assert fetcher.refused == [url]


def test_fetcher_refuses_a_way_out_of_its_roots(tmp_path: Path) -> None:
    root = tmp_path / "event"
    root.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (root / "link.png").symlink_to(secret)
    fetcher = SafeFetcher([root])
    for url in ((root / "link.png").as_uri(), root.as_uri() + "/../secret.txt", (root / "missing.png").as_uri()):
        with pytest.raises(RefusedURL):
            fetcher.fetch(url)
    assert len(fetcher.refused) == 3


def test_render_pdf_fetches_nothing_outside_and_is_tagged(tmp_path: Path, http_server: tuple[str, Hits]) -> None:
    url, hits = http_server
    html = f"""<!DOCTYPE html><html lang="de"><head><title>Test</title>
    <style>@import url({url}/import.css); body {{ background: url({url}/bg.png); }}</style>
    <link rel="stylesheet" href="{url}/style.css"></head><body>
    <h1>Müller, محمد, Дмитрий</h1><img src="file:///etc/passwd" alt="x"><img src="{url}/img.png" alt="y">
    <img src="secret.png" alt="z"><script>document.write("EXECUTED")</script></body></html>"""
    (tmp_path / "secret.png").write_bytes(b"not served: the folder is not an allowed root")
    fetcher = SafeFetcher([tmp_path / "allowed"])
    data = render_pdf(html, base_dir=tmp_path, allowed_roots=[tmp_path / "allowed"], fetcher=fetcher)
    assert data.startswith(b"%PDF-")
    assert hits.paths == []
    assert fetcher.served == []
    assert {f"{url}/import.css", f"{url}/style.css", f"{url}/img.png", "file:///etc/passwd"} <= set(fetcher.refused)
    assert (tmp_path / "secret.png").as_uri() in fetcher.refused
    text = pdf_text(data, tmp_path)
    assert "Müller" in text and "محمد" in text and "Дмитрий" in text
    assert "EXECUTED" not in text
    info = subprocess.run(["pdfinfo", str(tmp_path / "doc.pdf")], capture_output=True, text=True, check=True).stdout
    assert "Tagged:          yes" in info


def test_markdown_shows_html_as_text_and_makes_no_images() -> None:
    html = str(markdown_html('**fett** <script>x()</script> <img src="file:///etc/passwd">\n\n![bild](http://x/y.png)'))
    assert "<strong>fett</strong>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html
    assert 'href="javascript' not in str(markdown_html("[klick](javascript:alert(1))"))


def test_markdown_keeps_the_gender_star_of_german_texts() -> None:
    html = str(markdown_html("Migrant*innen, Akteur*innen und *alle* Teilnehmer*innen, **fett**, `a*b*c`"))
    assert html == (
        "<p>Migrant*innen, Akteur*innen und <em>alle</em> Teilnehmer*innen, <strong>fett</strong>, "
        "<code>a*b*c</code></p>\n"
    )


def test_css_string_escapes_everything_but_letters() -> None:
    assert css_string("Seite") == '"Seite"'
    escaped = str(css_string('a"; } body { x'))
    assert '"' not in escaped[1:-1] and "}" not in escaped and "\\000022" in escaped


def test_print_environment_looks_in_the_format_first_and_translates(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"EVENTKIT_SECRET_KEY": "k", "EVENTKIT_VAR_DIR": str(tmp_path), "EVENTKIT_TEMPLATE_DIR": str(TEMPLATES)}
    )
    env = print_environment(settings, "barcamp", "de")
    assert env.autoescape is not False
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
    assert env.get_template("recap/recap.html").filename.endswith("formats/barcamp/recap/recap.html")
    assert env.get_template("print/base.html").filename.endswith("_base/print/base.html")
    assert env.from_string("{{ _('Page') }}").render() == "Seite"
    assert print_environment(settings, "barcamp", "en").from_string("{{ _('Page') }}").render() == "Page"
    # the email environment is not changed by the print filters
    from eventkit.documents.pdf import _renderer

    assert "markdown" not in _renderer(settings.template_dir).environment("barcamp", "de").filters


def test_write_atomic_replaces_the_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "recap.pdf"
    write_atomic(target, b"one")
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["recap.pdf"]


def test_a_long_table_is_laid_out_and_written_without_the_cycle_collector_walking_the_heap(tmp_path: Path) -> None:
    # the cost behind the 500-name attendance list's 3 s: while the document's objects pile up, Python's
    # cycle collector ran hundreds of times (and over the whole heap a few times) during layout and painting
    rows = "".join(f"<tr><td>{n}</td><td>Renate Müller {n}</td><td>Verein {n}</td><td></td></tr>" for n in range(150))
    html = f"<!DOCTYPE html><html lang=de><title>Liste</title><body><table>{rows}</table></body></html>"
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.collect()
    gc.callbacks.append(count)
    try:
        document = render_document(html, base_dir=tmp_path, allowed_roots=[tmp_path])
        laid_out = list(collections)
        data = document.write_pdf()
        written = collections[len(laid_out) :]
    finally:
        gc.callbacks.remove(count)
    assert len(document.pages) > 3 and data.startswith(b"%PDF-")
    # at most the one collection that the first allocation after each step may start
    assert len(laid_out) <= 1 and len(written) <= 1, (laid_out, written)
    assert gc.isenabled()


def test_the_cycle_collector_runs_again_when_the_last_render_ends_or_fails() -> None:
    from eventkit.documents.pdf import _cycle_collector_paused

    with _cycle_collector_paused():
        with _cycle_collector_paused():  # another thread's render, say
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), _cycle_collector_paused():
        raise RuntimeError("WeasyPrint failed")
    assert gc.isenabled()
    gc.disable()  # a program that runs without the collector keeps it off
    try:
        with _cycle_collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
