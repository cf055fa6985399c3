"""Browser fixtures: one headless Chromium per test module, a fresh German page per test, apps served on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.web.browser import CHROMIUM, LiveServer


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # per module, not per session: while Playwright's sync API runs, the main thread has a running event loop,
    # and Prefect's sync calls made after it (State.result() in the flow tests) would return coroutines
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture
def browser_context_args() -> dict[str, Any]:
    """Options of each test's browser context; a test module overrides this fixture for another locale."""
    return {"locale": "de-DE", "timezone_id": "Europe/Berlin"}


@pytest.fixture
def new_page(browser: Browser, browser_context_args: dict[str, Any]) -> Iterator[Callable[..., Page]]:
    """`new_page(locale="en-GB")`: a page in a context of its own, closed after the test."""
    contexts: list[BrowserContext] = []

    def make(**options: Any) -> Page:
        context = browser.new_context(**{**browser_context_args, **options})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    return new_page()


@pytest.fixture
def live_server() -> Iterator[Callable[..., str]]:
    """Serves an ASGI app on 127.0.0.1 until the test ends and answers its base URL.

    `live_server(app)`, or `live_server(build=lambda base_url: app)` for an app that must know its address.
    """
    servers: list[LiveServer] = []

    def serve(app: Any = None, *, build: Callable[[str], Any] | None = None) -> str:
        if (app is None) == (build is None):
            raise TypeError("live_server() takes an app or build=, not both")
        server = LiveServer()
        servers.append(server)
        server.start(build(server.url) if build is not None else app)
        return server.url

    yield serve
    for server in servers:
        server.stop()
