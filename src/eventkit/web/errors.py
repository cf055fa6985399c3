"""The web's answer to an error a person can act on: its page, or JSON under /api/, given once for every route."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from eventkit.consent.consents import InvalidUnsubscribeLink
from eventkit.core.errors import N_, UserError
from eventkit.core.i18n import gettext_for
from eventkit.events.events import EventNotFound
from eventkit.registration.rules import RegistrationClosed
from eventkit.survey.responses import AlreadyAnswered, SurveyClosed
from eventkit.web.pages import render_event, web_of


class FormExpired(UserError):
    """The form's CSRF token does not match the browser's cookie (an old page, or a page from another site)."""

    message = N_(
        "The form has expired or your browser did not send its security cookie. "
        "Please go back, reload the page and send the form again."
    )


class OrganiserFormExpired(FormExpired):
    message = N_("The form has expired. Please reload the page and try again.")


class TooManyRequests(UserError):
    """More requests from one client than the rate limit allows; `seconds` until the next one is."""

    message = N_("You have sent many forms in a short time. Please wait %(seconds)s seconds and try again.")
    status = 429

    def __init__(self, seconds: int, message: str | None = None):
        super().__init__(message, seconds=seconds)
        self.seconds = seconds


class NotOrganiser(UserError):
    """An organisers' page or API call without EVENTKIT_ADMIN_TOKEN (as a bearer token or the login's cookie)."""

    message = N_("This needs the organisers' token (Authorization: Bearer ...).")
    status = 401


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def page_language(request: Request) -> str:
    """The language the route chose for the request (a form's lang field), else the address's."""
    language: str | None = getattr(request.state, "language", None)
    return language or web_of(request).language(request)


def answer(
    request: Request, status: int, message: str, language: str, headers: dict[str, str] | None = None
) -> Response:
    """{"detail": message} under /api/, else the error page."""
    if wants_json(request):
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    response = web_of(request).error_page(request, status, message, language)
    if headers:
        response.headers.update(headers)
    return response


async def user_error(request: Request, exc: UserError) -> Response:
    language = page_language(request)
    return answer(request, exc.status, exc.render(language), language)


async def too_many_requests(request: Request, exc: TooManyRequests) -> Response:
    language = page_language(request)
    return answer(request, exc.status, exc.render(language), language, {"Retry-After": str(exc.seconds)})


async def invalid_unsubscribe_link(request: Request, exc: InvalidUnsubscribeLink) -> Response:
    language = page_language(request)
    # the link is the secret: no copy of the page may stay in a cache
    return answer(request, exc.status, exc.render(language), language, {"Cache-Control": "no-store"})


async def no_event(request: Request, exc: EventNotFound) -> Response:
    # the address's and the browser's language; a form's lang field has never counted for this page
    language = web_of(request).language(request)
    return answer(request, exc.status, exc.render(language), language)


async def not_organiser(request: Request, exc: NotOrganiser) -> Response:
    web = web_of(request)
    language = page_language(request)
    if wants_json(request):
        return answer(request, exc.status, exc.render(language), language, {"WWW-Authenticate": "Bearer"})
    if not web.admin.enabled:
        _ = gettext_for(language).gettext
        message = _("The organisers' pages are switched off. Set EVENTKIT_ADMIN_TOKEN to use them.")
        return web.error_page(request, 404, message, language)
    context = {"failed": False, "next": request.url.path}
    response = web.page(request, "admin/login.html", language, context, status_code=401, csrf=True)
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


def registration_closed(request: Request, exc: RegistrationClosed) -> Response:
    """The event's own page that says so (it reads the store: Starlette runs a plain function in a thread)."""
    language = page_language(request)
    if wants_json(request):
        return answer(request, exc.status, exc.render(language), language)
    slug = request.path_params["slug"]
    context = {"message": exc.render(language)}
    return render_event(web_of(request), request, slug, "closed.html", language, context, status_code=exc.status)


def survey_over(request: Request, exc: SurveyClosed | AlreadyAnswered) -> Response:
    """The event's page that says the survey has ended or this link was used (in a thread, like the one above)."""
    language = page_language(request)
    if exc.language and "lang" not in request.query_params and request.method == "GET":
        language = exc.language  # the person's own, like the form
    _ = gettext_for(language).gettext
    title = _("The survey is closed") if isinstance(exc, SurveyClosed) else _("Already answered")
    context = {"title": title, "message": exc.render(language)}
    slug = request.path_params["slug"]
    web = web_of(request)
    return render_event(web, request, slug, "survey_message.html", language, context, status_code=exc.status)


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    language = web_of(request).language(request)
    _ = gettext_for(language).gettext
    message = exc.detail if isinstance(exc.detail, str) and exc.detail else ""
    if exc.status_code == 404 and not message:
        message = _("There is no page at this address.")
    if exc.status_code == 405:
        message = _("This address does not accept that kind of request.")
    return answer(request, exc.status_code, message, language, getattr(exc, "headers", None))


async def bad_request(request: Request, exc: RequestValidationError) -> Response:
    # FastAPI's own checks (a path parameter of the wrong type, say): the same shape as ours
    _ = gettext_for(web_of(request).language(request)).gettext
    detail = [
        {"field": ".".join(str(p) for p in e.get("loc", ())[1:]) or "body", "message": _("is not valid")}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


HANDLERS: dict[type[Exception], Any] = {
    StarletteHTTPException: http_error,
    RequestValidationError: bad_request,
    UserError: user_error,
    EventNotFound: no_event,
    TooManyRequests: too_many_requests,
    InvalidUnsubscribeLink: invalid_unsubscribe_link,
    NotOrganiser: not_organiser,
    RegistrationClosed: registration_closed,
    SurveyClosed: survey_over,
    AlreadyAnswered: survey_over,
}


def install_handlers(app: FastAPI) -> None:
    """Every route's errors, answered here: the most specific class's handler wins."""
    for exc_class, handler in HANDLERS.items():
        app.add_exception_handler(exc_class, handler)
