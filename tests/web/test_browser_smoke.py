"""The browser set-up itself: Chromium loads pages from a live server, and the axe-core check passes and fails."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from tests.web.browser import assert_accessible, axe_violations

pytestmark = pytest.mark.browser

GOOD = """<!doctype html>
<html lang="de"><head><meta charset="utf-8"><title>Anmeldung</title></head>
<body><main>
  <h1>Anmeldung</h1>
  <form method="post">
    <label for="name">Name</label> <input id="name" name="name" autocomplete="name">
    <button type="submit">Anmelden</button>
  </form>
</main></body></html>"""

BAD = """<!doctype html>
<html lang="de"><head><meta charset="utf-8"><title>Anmeldung</title></head>
<body><main>
  <h1>Anmeldung</h1>
  <p style="color:#bbb;background:#fff">Bitte bis Freitag anmelden.</p>
  <form method="post"><input id="name" name="name"><button type="submit">Anmelden</button></form>
</main></body></html>"""


async def good(request: Request) -> HTMLResponse:
    return HTMLResponse(GOOD)


async def bad(request: Request) -> HTMLResponse:
    return HTMLResponse(BAD)


def app() -> Starlette:
    return Starlette(routes=[Route("/good", good), Route("/bad", bad)])


def test_accessible_page_passes(live_server: Callable[..., str], page: Page) -> None:
    base = live_server(app())
    page.goto(f"{base}/good")
    assert page.evaluate("navigator.language") == "de-DE"
    page.get_by_label("Name").fill("Дмитрий Müller")
    assert_accessible(page)


def test_inaccessible_page_is_reported(live_server: Callable[..., str], page: Page) -> None:
    base = live_server(app())
    page.goto(f"{base}/bad")
    found = {v["id"]: v for v in axe_violations(page)}
    assert {"label", "color-contrast"} <= found.keys()
    assert found["label"]["nodes"][0]["target"] == ["#name"]
    with pytest.raises(AssertionError, match=r"- label \[critical\]: .* at #name"):
        assert_accessible(page)
