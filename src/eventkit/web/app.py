"""The FastAPI app: server-rendered pages that work without JavaScript, a JSON API, organisers' pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from eventkit import __version__
from eventkit.model.formats import discover
from eventkit.runtime import Runtime, configure
from eventkit.web.errors import install_handlers
from eventkit.web.pages import Web
from eventkit.web.routes import admin, admin_sessions, api, documents, operations, personal, public, sessions, survey

SECURITY_HEADERS = {
    # no script at all; styles only from this site; personal links in URLs never leak as a Referer
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "interest-cohort=()",
}
ROUTERS = (
    operations.router,
    public.router,
    personal.router,
    api.router,
    admin.router,
    documents.router,
    survey.router,
    sessions.router,
    admin_sessions.router,
)


class SecurityHeaders:
    """Adds SECURITY_HEADERS (and no-store on personal and organisers' pages) to every response.

    A plain ASGI middleware: Starlette's BaseHTTPMiddleware costs a task and a stream per request.
    """

    def __init__(self, app: Any):
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = scope["path"].startswith(("/e/", "/admin"))

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                if private and b"cache-control" not in present:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(rt: Runtime, *, delivery: str | None = None) -> FastAPI:
    """The app for one runtime; `delivery` overrides EVENTKIT_DELIVERY (inline or prefect)."""
    web = Web(rt, delivery)
    discover(rt.settings.template_dir)  # read the formats once now, not in every thread of the first requests

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await web.pump.start()
        try:
            yield
        finally:
            await web.pump.stop()

    app = FastAPI(
        title="eventkit",
        version=__version__,
        description=(
            "Registration for network meetings. Errors come in German by default; send "
            "`Accept-Language: en` for English. Field errors have the shape "
            '`{"detail": [{"field": ..., "message": ...}]}`.'
        ),
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.web = web
    app.add_middleware(SecurityHeaders)
    install_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    static = rt.settings.template_dir / "_base" / "web" / "static"
    app.mount("/static", StaticFiles(directory=static, check_dir=False), name="static")
    return app


def app_from_env() -> FastAPI:
    """The app with the settings of the environment (a factory for `uvicorn --factory` and worker processes)."""
    return create_app(configure())
