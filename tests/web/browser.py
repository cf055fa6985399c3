"""Real-browser helpers: Debian's headless Chromium, axe-core checks, and an ASGI app served by uvicorn in a thread."""

from __future__ import annotations

import functools
import importlib.resources
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from playwright.sync_api import Page

# Debian's build (make browser installs it); Playwright's own browser download cannot be had here
CHROMIUM = Path("/usr/bin/chromium")

WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
SEVERE = ("serious", "critical")


@functools.cache
def axe_script() -> str:
    """axe-core's axe.min.js as the axe-playwright-python package ships it (only the file is used)."""
    return (importlib.resources.files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")


def axe_violations(page: Page, impacts: tuple[str, ...] = SEVERE) -> list[dict[str, Any]]:
    """Run axe-core with the WCAG 2.0/2.1 A and AA rules on the page as it is now; its violations of those impacts."""
    # evaluate() runs outside the page's Content-Security-Policy, unlike an injected <script> tag
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_script())
    violations: list[dict[str, Any]] = page.evaluate(
        "async (options) => (await window.axe.run(document, options)).violations",
        {"runOnly": {"type": "tag", "values": list(WCAG_TAGS)}, "resultTypes": ["violations"]},
    )
    return [v for v in violations if v.get("impact") in impacts]


def describe_violations(violations: list[dict[str, Any]], targets: int = 3) -> str:
    lines = []
    for v in violations:
        selectors = [" ".join(map(str, node["target"])) for node in v["nodes"][:targets]]
        more = f" (+{len(v['nodes']) - targets} more)" if len(v["nodes"]) > targets else ""
        lines.append(f"- {v['id']} [{v['impact']}]: {v['help']} at {', '.join(selectors)}{more}")
    return "\n".join(lines)


def assert_accessible(page: Page, impacts: tuple[str, ...] = SEVERE) -> None:
    violations = axe_violations(page, impacts)
    assert not violations, f"axe-core finds {len(violations)} violation(s) on {page.url}:\n" + describe_violations(
        violations
    )


_FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  return {
    tag: el.tagName.toLowerCase(),
    type: el.getAttribute('type') || '',
    name: el.getAttribute('name') || '',
    id: el.id,
    href: el.getAttribute('href') || '',
    value: el.value === undefined ? '' : String(el.value),
    text: (el.innerText || '').trim().slice(0, 80),
    focusVisible: el.matches(':focus-visible'),
    outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
    boxShadow: style.boxShadow !== 'none',
  };
}"""


def tab_order(page: Page, steps: int = 60) -> list[dict[str, Any]]:
    """Press Tab from the top of the page until focus leaves it or comes round again; what got focus, in order.

    Each entry names the element (tag, type, name, id, value, text) and says whether its focus is visible.
    """
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
    seen: list[dict[str, Any]] = []
    for _ in range(steps):
        page.keyboard.press("Tab")
        focused = page.evaluate(_FOCUSED)
        if focused is None or (seen and focused == seen[0]):
            break
        focused["visible"] = focused["focusVisible"] and (focused["outline"] or focused["boxShadow"])
        seen.append(focused)
    return seen


class LiveServer:
    """An ASGI app served by uvicorn on a loopback port in a background thread.

    The port is bound first, so `url` is known before the app is made (an app that writes its own address
    into emails needs it); `start(app)` serves it, `stop()` ends it.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        # a socket bound here and handed to uvicorn leaves no gap in which another process takes the port
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, 0))
        self.url = f"http://{host}:{self._socket.getsockname()[1]}"
        self.server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self, app: Any, startup_timeout: float = 20) -> None:
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            ws="none",
            timeout_graceful_shutdown=5,
        )
        self.server = server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"uvicorn {self.url}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"uvicorn did not start serving {self.url}") from self._error
            time.sleep(0.02)

    def _run(self) -> None:
        assert self.server is not None
        try:
            self.server.run(sockets=[self._socket])
        except BaseException as exc:  # reported to the test thread by start()
            self._error = exc

    def stop(self) -> None:
        if self.server is not None and self._thread is not None:
            self.server.should_exit = True
            self._thread.join(timeout=15)
        self._socket.close()
