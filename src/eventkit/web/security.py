"""CSRF protection for forms, rate limiting per client, the organisers' token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque

from fastapi import Request
from starlette.responses import Response

CSRF_COOKIE = "ek_csrf"
ADMIN_COOKIE = "ek_admin"


def _mac(secret_key: str, purpose: str, value: str) -> str:
    return hmac.new(secret_key.encode(), f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()


class Csrf:
    """Double submit, signed: a random cookie, and in every form an HMAC of it under the app's secret key.

    A page on another site can make a browser post a form here, but it can read neither the cookie nor the
    page, so it cannot know the field's value; the check is constant-time.
    """

    def __init__(self, secret_key: str):
        self.secret_key = secret_key

    def token(self, request: Request) -> tuple[str, str | None]:
        """The form field's value, and a new cookie value when the browser has none yet."""
        cookie = request.cookies.get(CSRF_COOKIE)
        new = None
        if not cookie or len(cookie) > 100:
            cookie = new = secrets.token_urlsafe(24)
        return _mac(self.secret_key, "csrf", cookie), new

    def valid(self, request: Request, field: object) -> bool:
        cookie = request.cookies.get(CSRF_COOKIE)
        if not cookie or not isinstance(field, str) or len(field) > 200:
            return False
        return hmac.compare_digest(_mac(self.secret_key, "csrf", cookie).encode(), field.encode("utf-8", "replace"))


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


class RateLimiter:
    """At most `count` requests per `seconds` and client address (a sliding window, in this process)."""

    def __init__(self, limit: tuple[int, int] | None):
        self.limit = limit
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._sweep_at = time.monotonic() + 300

    def hit(self, client: str) -> int | None:
        """Count a request; returns None when allowed, else the seconds until the next one is."""
        if self.limit is None:
            return None
        count, seconds = self.limit
        now = time.monotonic()
        with self._lock:
            if now > self._sweep_at:  # forget clients that went quiet, so the table stays small
                self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - seconds}
                self._sweep_at = now + 300
            window = self._hits.setdefault(client, deque())
            while window and window[0] <= now - seconds:
                window.popleft()
            if len(window) >= count:
                return max(1, int(window[0] + seconds - now) + 1)
            window.append(now)
            return None


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class AdminAuth:
    """EVENTKIT_ADMIN_TOKEN as a bearer token (API, scripts) or, after the login form, as a signed cookie."""

    def __init__(self, secret_key: str, token: str | None):
        self.secret_key = secret_key
        self.token = token

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    def check_token(self, candidate: str) -> bool:
        if not self.token:
            return False
        return hmac.compare_digest(candidate.encode("utf-8", "replace"), self.token.encode())

    def cookie_value(self) -> str:
        assert self.token
        return _mac(self.secret_key, "admin", self.token)

    def allowed(self, request: Request) -> bool:
        if not self.token:
            return False
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return self.check_token(header[7:].strip())
        cookie = request.cookies.get(ADMIN_COOKIE)
        if not cookie:
            return False
        return hmac.compare_digest(cookie.encode("utf-8", "replace"), self.cookie_value().encode())
