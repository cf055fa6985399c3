"""The FastAPI app: server-rendered pages that work without JavaScript, a JSON API, organisers' pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from eventkit import __version__
from eventkit.core.i18n import LANGUAGES, gettext_for, normalise_language
from eventkit.events.events import EventNotFound
from eventkit.model.formats import discover
from eventkit.runtime import Runtime
from eventkit.web.pump import Pump
from eventkit.web.security import CSRF_COOKIE, AdminAuth, Csrf, RateLimiter, set_cookie

NO_FORMAT = "_pages"  # pages that belong to no event (errors, organisers' login) use _base alone

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


class Web:
    """What every route needs: the runtime, security helpers, the delivery pump, page rendering."""

    def __init__(self, rt: Runtime, delivery: str | None = None):
        self.rt = rt
        self.csrf = Csrf(rt.settings.secret_key)
        self.limiter = RateLimiter(rt.settings.rate_limit)
        self.admin = AdminAuth(rt.settings.secret_key, rt.settings.admin_token)
        self.pump = Pump(rt, delivery or rt.settings.delivery)

    def language(self, request: Request, explicit: str | None = None) -> str:
        """?lang= (or a form's lang field) first, then the browser's Accept-Language, else German."""
        candidate = explicit or request.query_params.get("lang")
        if candidate and normalise_language(candidate, "") in LANGUAGES:
            return normalise_language(candidate)
        for part in request.headers.get("accept-language", "").split(","):
            tag = part.split(";")[0].strip()
            if tag and normalise_language(tag, "") in LANGUAGES:
                return normalise_language(tag)
        return "de"

    def page(
        self,
        request: Request,
        template: str,
        language: str,
        context: dict[str, Any],
        *,
        format_name: str = NO_FORMAT,
        status_code: int = 200,
        csrf: bool = False,
    ) -> HTMLResponse:
        env = self.rt.renderer.environment(format_name, language)
        new_cookie = None
        if csrf:
            context["csrf_token"], new_cookie = self.csrf.token(request)
        path = request.url.path
        other = "en" if language == "de" else "de"
        query = dict(request.query_params)
        query["lang"] = other
        context.setdefault(
            "page",
            SimpleNamespace(
                path=path,
                switch_url=f"{path}?{urlencode(query)}",
                switch_language=other,
                version=__version__,
            ),
        )
        html = env.get_template(f"web/{template}").render(context)
        response = HTMLResponse(html, status_code=status_code)
        if new_cookie:
            set_cookie(response, request, CSRF_COOKIE, new_cookie)
        return response

    def error_page(self, request: Request, status_code: int, message: str, language: str) -> HTMLResponse:
        _ = gettext_for(language).gettext
        titles = {
            400: _("The request could not be processed"),
            403: _("Access denied"),
            404: _("Not found"),
            409: _("Registration is closed"),
            429: _("Too many requests"),
        }
        return self.page(
            request,
            "error.html",
            language,
            {"title": titles.get(status_code, _("Something went wrong")), "message": message},
            status_code=status_code,
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


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


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

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Any:
        language = web.language(request)
        _ = gettext_for(language).gettext
        message = exc.detail if isinstance(exc.detail, str) and exc.detail else ""
        if exc.status_code == 404 and not message:
            message = _("There is no page at this address.")
        if exc.status_code == 405:
            message = _("This address does not accept that kind of request.")
        headers = getattr(exc, "headers", None)
        if wants_json(request):
            return JSONResponse({"detail": message}, status_code=exc.status_code, headers=headers)
        response = web.error_page(request, exc.status_code, message, language)
        if headers:
            response.headers.update(headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Any:
        # FastAPI's own checks (a path parameter of the wrong type, say): the same shape as ours
        language = web.language(request)
        _ = gettext_for(language).gettext
        detail = [
            {"field": ".".join(str(p) for p in e.get("loc", ())[1:]) or "body", "message": _("is not valid")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(EventNotFound)
    async def no_event(request: Request, exc: EventNotFound) -> Any:
        language = web.language(request)
        message = gettext_for(language).gettext("There is no event with this address.")
        if wants_json(request):
            return JSONResponse({"detail": message}, status_code=404)
        return web.error_page(request, 404, message, language)

    @app.get("/healthz", include_in_schema=True, tags=["operations"])
    def healthz() -> Any:
        """Liveness and readiness: 200 when the store answers, 503 when it does not."""
        from sqlalchemy import text

        try:
            with rt.store.session() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - health reports, it does not raise
            return JSONResponse({"status": "unavailable", "database": type(exc).__name__}, status_code=503)
        return {"status": "ok", "database": "ok", "delivery": web.pump.mode, "version": __version__}

    @app.get("/robots.txt", include_in_schema=False)
    def robots() -> PlainTextResponse:
        # pages that carry a personal link in their address
        personal = ("manage", "confirm", "cancel", "survey", "sessions")
        lines = ["User-agent: *", *(f"Disallow: /e/*/{page}" for page in personal), "Disallow: /u/", "Disallow: /admin"]
        return PlainTextResponse("\n".join(lines) + "\n")

    from eventkit.web import admin, api, documents, pages, privacy, sessions, survey

    for router in (pages.router, api.router, admin.router, documents.router, survey.router):
        app.include_router(router)
    for router in (sessions.router, sessions.admin_router, privacy.router):
        app.include_router(router)
    static = rt.settings.template_dir / "_base" / "web" / "static"
    app.mount("/static", StaticFiles(directory=static, check_dir=False), name="static")
    return app


def app_from_env() -> FastAPI:
    """The app with the settings of the environment (a factory for `uvicorn --factory` and worker processes)."""
    from eventkit import runtime

    return create_app(runtime.configure())
