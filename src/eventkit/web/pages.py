"""Rendering pages: what every route needs (Web), a request's language, a page, an error page, an event's context."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse

from eventkit import __version__
from eventkit.core.i18n import LANGUAGES, gettext_for, normalise_language
from eventkit.db.store import Event
from eventkit.events.events import event_view, format_for, load_event
from eventkit.model.formats import Format
from eventkit.model.registration_form import FormField
from eventkit.model.spec import EventSpec
from eventkit.registration import queries, specs
from eventkit.runtime import Runtime
from eventkit.web.pump import Pump
from eventkit.web.security import CSRF_COOKIE, AdminAuth, Csrf, RateLimiter, set_cookie

NO_FORMAT = "_pages"  # pages that belong to no event (errors, organisers' login) use _base alone


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


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def load(web: Web, slug: str) -> tuple[Event, EventSpec, Format, list[FormField]]:
    """The event a page is about (EventNotFound: the 404 page), its format and its registration fields."""
    with web.rt.store.session() as session:
        event, spec = load_event(session, slug)
        session.expunge(event)
    fmt = format_for(web.rt.settings, spec.format)
    return event, spec, fmt, specs.event_fields(web.rt, spec)


def event_context(web: Web, event: Event, spec: EventSpec, fmt: Format, language: str) -> dict[str, Any]:
    """What every page of an event shows: the event, its format, the places left, its addresses."""
    availability = queries.availability(web.rt, spec.slug)
    return {
        "event": event_view(spec, fmt),
        "event_status": event.status,
        "format": SimpleNamespace(
            name=fmt.name, title=fmt.title.get(language), description=fmt.description.get(language)
        ),
        "availability": SimpleNamespace(**availability),
        "urls": SimpleNamespace(
            event=f"/e/{spec.slug}",
            register=f"/e/{spec.slug}/register",
            ics=f"/e/{spec.slug}/event.ics",
        ),
    }


def render_event(
    web: Web,
    request: Request,
    slug: str,
    template: str,
    language: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    csrf: bool = False,
) -> HTMLResponse:
    """A page of the event in its format's templates: the event's context with `context` added."""
    event, spec, fmt, _fields = load(web, slug)
    full = event_context(web, event, spec, fmt, language)
    full.update(context or {})
    return web.page(request, template, language, full, format_name=fmt.name, status_code=status_code, csrf=csrf)
