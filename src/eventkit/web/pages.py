"""The pages attendees see: the event, the form, their personal page, the opt-in and cancel steps.

A GET never changes anything: every change is a POST of a form carrying a CSRF token, and a link from an
email leads to a page with a button. After a successful POST the browser is sent on (303) to a page it
may reload.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from eventkit.core.i18n import gettext_for
from eventkit.core.validation import ValidationFailed
from eventkit.db.store import Event, Registration
from eventkit.events.events import calendar_event, event_view, format_for, load_event
from eventkit.mail.ical import Invite
from eventkit.model.formats import Format
from eventkit.model.registration_form import CORE_LABELS, FormField, label_of, parse_registration
from eventkit.model.spec import EventSpec
from eventkit.registration import registrations
from eventkit.registration.registrations import InvalidLink, RegistrationClosed
from eventkit.web.app import Web
from eventkit.web.security import client_address

router = APIRouter(include_in_schema=False)


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def load(web: Web, slug: str) -> tuple[Event, EventSpec, Format, list[FormField]]:
    with web.rt.store.session() as session:
        event, spec = load_event(session, slug)
        session.expunge(event)
    fmt = format_for(web.rt.settings, spec.format)
    return event, spec, fmt, registrations.event_fields(web.rt, spec)


def event_context(web: Web, event: Event, spec: EventSpec, fmt: Format, language: str) -> dict[str, Any]:
    availability = registrations.availability(web.rt, spec.slug)
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


def form_values(form: Any) -> dict[str, Any]:
    """A submitted form as a dict: a key given several times (multiple choice) becomes a list."""
    out: dict[str, Any] = {}
    for key in form.keys():  # noqa: SIM118 - a multi-dict: keys() lists each key once
        values = form.getlist(key)
        out[key] = values if len(values) > 1 else values[0]
    return out


def field_text(values: dict[str, Any], key: str) -> str:
    """One text field of a submitted form ('' when absent or given several times)."""
    value = values.get(key)
    return value if isinstance(value, str) else ""


def field_errors(exc: ValidationFailed, fields: list[FormField], language: str) -> list[SimpleNamespace]:
    _ = gettext_for(language).gettext
    out = []
    for problem in exc.problems:
        name = problem.field or ""
        message = _(problem.message) % dict(problem.params) if problem.params else _(problem.message)
        out.append(SimpleNamespace(field=name, label=label_of(name, fields, language), message=message))
    return out


def form_context(
    slug: str,
    fields: list[FormField],
    language: str,
    values: dict[str, Any],
    errors: list[SimpleNamespace] | None = None,
    *,
    mode: str = "register",
    token: str | None = None,
) -> dict[str, Any]:
    """What web/_form.html needs: for a new registration (token: the invitation's) or for changing one
    (mode manage, token: the personal link's)."""
    return {
        "fields": fields,
        "core_labels": {k: v.get(language) for k, v in CORE_LABELS.items()},
        "values": values,
        "errors": errors or [],
        "error_for": {e.field: e for e in errors or []},
        "invitation_token": token if mode == "register" else None,
        "mode": mode,
        "manage_token": token if mode == "manage" else None,
        "action": f"/e/{slug}/register" if mode == "register" else f"/e/{slug}/manage",
    }


def render_form(
    web: Web,
    request: Request,
    slug: str,
    language: str,
    *,
    values: dict[str, Any],
    errors: list[SimpleNamespace] | None = None,
    invitation_token: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The registration form (new registrations; the personal page has its own frame around the form)."""
    event, spec, fmt, fields = load(web, slug)
    context = event_context(web, event, spec, fmt, language)
    context.update(form_context(slug, fields, language, values, errors, token=invitation_token))
    return web.page(
        request,
        "register.html",
        language,
        context,
        format_name=fmt.name,
        status_code=status_code,
        csrf=True,
    )


@router.get("/e/{slug}", response_class=HTMLResponse)
def event_page(request: Request, slug: str) -> HTMLResponse:
    web = web_of(request)
    language = web.language(request)
    event, spec, fmt, _fields = load(web, slug)
    return web.page(
        request, "event.html", language, event_context(web, event, spec, fmt, language), format_name=fmt.name
    )


@router.get("/e/{slug}/event.ics")
def event_ics(request: Request, slug: str) -> Response:
    """The public calendar entry (METHOD:PUBLISH): no attendee, no personal link."""
    web = web_of(request)
    language = web.language(request)
    with web.rt.store.session() as session:
        event, spec = load_event(session, slug)
        cal = Invite(calendar_event(event, spec, web.rt.settings, language), "PUBLISH")
    body = cal.without_attendee()
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(slug)}.ics"},
    )


@router.get("/e/{slug}/register", response_class=HTMLResponse)
def register_form(request: Request, slug: str, t: str | None = None) -> HTMLResponse:
    web = web_of(request)
    language = web.language(request)
    values: dict[str, Any] = {}
    if t:
        # the personal invitation link fills in what is known about the invited person (a read, no change)
        with web.rt.store.session() as session:
            event, _spec = load_event(session, slug)
            person = registrations.invitation_person(session, web.rt, event.id, t)
            if person is not None:
                values = {"name": person.name, "email": person.email, "organisation": person.organisation or ""}
                if "lang" not in request.query_params:
                    language = person.language
            else:
                t = None
    return render_form(web, request, slug, language, values=values, invitation_token=t)


def _closed(web: Web, request: Request, slug: str, language: str) -> HTMLResponse:
    _ = gettext_for(language).gettext
    event, spec, fmt, _f = load(web, slug)
    context = event_context(web, event, spec, fmt, language)
    context["message"] = _("Registration for this event is closed.")
    return web.page(request, "closed.html", language, context, format_name=fmt.name, status_code=409)


def _too_many(web: Web, request: Request, language: str, retry_after: int) -> HTMLResponse:
    _ = gettext_for(language).gettext
    response = web.error_page(
        request,
        429,
        _("You have sent many forms in a short time. Please wait %(seconds)s seconds and try again.")
        % {"seconds": retry_after},
        language,
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


def _csrf_failed(web: Web, request: Request, language: str) -> HTMLResponse:
    _ = gettext_for(language).gettext
    return web.error_page(
        request,
        400,
        _(
            "The form has expired or your browser did not send its security cookie. "
            "Please go back, reload the page and send the form again."
        ),
        language,
    )


@router.post("/e/{slug}/register", response_class=HTMLResponse)
async def register_submit(request: Request, slug: str) -> Response:
    web = web_of(request)
    form = await request.form()
    values = form_values(form)
    language = web.language(request, field_text(values, "lang") or None)
    if not web.csrf.valid(request, values.get("csrf_token")):
        return _csrf_failed(web, request, language)
    retry_after = web.limiter.hit(client_address(request))
    if retry_after is not None:
        return _too_many(web, request, language, retry_after)
    _event, spec, _fmt, fields = load(web, slug)
    token = field_text(values, "t") or None
    try:
        data = parse_registration(fields, values, source="form")
    except ValidationFailed as exc:
        return render_form(
            web,
            request,
            slug,
            language,
            values=values,
            errors=field_errors(exc, fields, language),
            invitation_token=token,
            status_code=422,
        )
    if data.language is None:
        data = type(data)(data.name, data.email, data.organisation, language, data.answers)
    try:
        outcome = registrations.submit(web.rt, slug, data, invitation_token=token)
    except RegistrationClosed:
        return _closed(web, request, slug, language)
    web.pump.notify(slug)
    if outcome.status == "pending":
        return RedirectResponse(f"/e/{slug}/check-mail?lang={language}", status_code=303)
    if outcome.manage_token is None:
        # already registered through their own invitation link: their page, with what they have
        return RedirectResponse(f"/e/{slug}/check-mail?lang={language}&already=1", status_code=303)
    return RedirectResponse(f"/e/{slug}/manage?t={outcome.manage_token}&new=1&lang={language}", status_code=303)


@router.get("/e/{slug}/check-mail", response_class=HTMLResponse)
def check_mail(request: Request, slug: str, already: int = 0) -> HTMLResponse:
    web = web_of(request)
    language = web.language(request)
    event, spec, fmt, _f = load(web, slug)
    context = event_context(web, event, spec, fmt, language)
    context["already"] = bool(already)
    return web.page(request, "check_mail.html", language, context, format_name=fmt.name)


def _invalid_link(web: Web, request: Request, language: str) -> HTMLResponse:
    _ = gettext_for(language).gettext
    return web.error_page(
        request,
        404,
        _(
            "This personal link is not valid (any more). Please use the link from your most recent email, "
            "or register again on the event page."
        ),
        language,
    )


def _personal_link(
    web: Web, request: Request, slug: str, purpose: str, token: str
) -> tuple[str, dict[str, Any]] | HTMLResponse:
    """What a personal link shows, and the page's language (the person's own unless ?lang= says
    otherwise); the error page for a link that is not valid."""
    language = web.language(request)
    try:
        info = registrations.peek(web.rt, slug, purpose, token)
    except InvalidLink:
        return _invalid_link(web, request, language)
    if "lang" not in request.query_params:
        language = info["language"]
    return language, info


@router.get("/e/{slug}/confirm", response_class=HTMLResponse)
def confirm_page(request: Request, slug: str, t: str = "") -> HTMLResponse:
    web = web_of(request)
    found = _personal_link(web, request, slug, "confirm", t)
    if isinstance(found, HTMLResponse):
        return found
    language, info = found
    event, spec, fmt, _f = load(web, slug)
    context = event_context(web, event, spec, fmt, language)
    expired = info["status"] == "expired" or (
        info["status"] == "pending" and info["expires_at"] is not None and info["expires_at"] <= datetime.now(UTC)
    )
    context.update(registration=SimpleNamespace(**info), token=t, expired=expired)
    return web.page(request, "confirm.html", language, context, format_name=fmt.name, csrf=True)


@router.post("/e/{slug}/confirm", response_class=HTMLResponse)
async def confirm_submit(request: Request, slug: str) -> Response:
    web = web_of(request)
    form = form_values(await request.form())
    language = web.language(request, field_text(form, "lang") or None)
    if not web.csrf.valid(request, form.get("csrf_token")):
        return _csrf_failed(web, request, language)
    token = field_text(form, "t")
    try:
        outcome = registrations.confirm(web.rt, slug, token)
    except InvalidLink:
        return _invalid_link(web, request, language)
    except RegistrationClosed:
        return _closed(web, request, slug, language)
    web.pump.notify(slug)
    if outcome.status == "expired":
        return RedirectResponse(f"/e/{slug}/confirm?t={token}&lang={language}", status_code=303)
    with web.rt.store.session() as session:
        registration = session.get(Registration, outcome.registration_id)
        assert registration is not None
        manage = registrations.manage_token(web.rt, registration)
    flag = "&new=1" if outcome.created else ""
    return RedirectResponse(f"/e/{slug}/manage?t={manage}{flag}&lang={language}", status_code=303)


@router.get("/e/{slug}/manage", response_class=HTMLResponse)
def manage_page(request: Request, slug: str, t: str = "", new: int = 0, saved: int = 0) -> HTMLResponse:
    web = web_of(request)
    found = _personal_link(web, request, slug, "manage", t)
    if isinstance(found, HTMLResponse):
        return found
    language, info = found
    event, spec, fmt, fields = load(web, slug)
    values = {
        "name": info["name"],
        "email": info["email"],
        "organisation": info["organisation"] or "",
        **info["answers"],
    }
    # the same form, in its "your registration" frame
    context = event_context(web, event, spec, fmt, language)
    context.update(
        registration=SimpleNamespace(**info),
        token=t,
        new=bool(new),
        saved=bool(saved),
        **form_context(slug, fields, language, values, mode="manage", token=t),
    )
    from eventkit.web.privacy import consent_context  # what was consented to, shown and changeable

    context.update(consent_context(web, info["id"], fields))
    return web.page(request, "manage.html", language, context, format_name=fmt.name, csrf=True)


@router.post("/e/{slug}/manage", response_class=HTMLResponse)
async def manage_submit(request: Request, slug: str) -> Response:
    web = web_of(request)
    values = form_values(await request.form())
    language = web.language(request, field_text(values, "lang") or None)
    if not web.csrf.valid(request, values.get("csrf_token")):
        return _csrf_failed(web, request, language)
    token = field_text(values, "t")
    try:
        info = registrations.peek(web.rt, slug, "manage", token)
    except InvalidLink:
        return _invalid_link(web, request, language)
    event, spec, fmt, fields = load(web, slug)
    values["email"] = info["email"]  # the confirmed address is not changed here
    values["privacy_consent"] = "on"  # given when registering
    try:
        data = parse_registration(fields, values, source="form")
        registrations.update(web.rt, slug, token, data)
    except ValidationFailed as exc:
        context = event_context(web, event, spec, fmt, language)
        errors = field_errors(exc, fields, language)
        context.update(
            registration=SimpleNamespace(**info),
            token=token,
            new=False,
            saved=False,
            **form_context(slug, fields, language, values, errors, mode="manage", token=token),
        )
        return web.page(request, "manage.html", language, context, format_name=fmt.name, status_code=422, csrf=True)
    except InvalidLink:
        return _invalid_link(web, request, language)
    return RedirectResponse(f"/e/{slug}/manage?t={token}&saved=1&lang={language}", status_code=303)


@router.get("/e/{slug}/cancel", response_class=HTMLResponse)
def cancel_page(request: Request, slug: str, t: str = "") -> HTMLResponse:
    web = web_of(request)
    found = _personal_link(web, request, slug, "manage", t)
    if isinstance(found, HTMLResponse):
        return found
    language, info = found
    event, spec, fmt, _f = load(web, slug)
    context = event_context(web, event, spec, fmt, language)
    context.update(registration=SimpleNamespace(**info), token=t)
    return web.page(request, "cancel.html", language, context, format_name=fmt.name, csrf=True)


@router.post("/e/{slug}/cancel", response_class=HTMLResponse)
async def cancel_submit(request: Request, slug: str) -> Response:
    web = web_of(request)
    form = form_values(await request.form())
    language = web.language(request, field_text(form, "lang") or None)
    if not web.csrf.valid(request, form.get("csrf_token")):
        return _csrf_failed(web, request, language)
    token = field_text(form, "t")
    try:
        registrations.cancel(web.rt, slug, token)
    except InvalidLink:
        return _invalid_link(web, request, language)
    web.pump.notify(slug)
    return RedirectResponse(f"/e/{slug}/manage?t={token}&lang={language}", status_code=303)
