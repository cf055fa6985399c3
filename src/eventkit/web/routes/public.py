"""The pages anyone sees: the event, its calendar entry, the registration form, "check your mail", the privacy notice.

A GET never changes anything: every change is a POST of a form carrying a CSRF token, and a link from an
email leads to a page with a button. After a successful POST the browser is sent on (303) to a page it
may reload.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from eventkit.consent import consents
from eventkit.core.validation import ValidationFailed
from eventkit.events.events import calendar_event, load_event
from eventkit.mail.ical import Invite
from eventkit.model import retention
from eventkit.model.registration_form import label_of, parse_registration
from eventkit.registration import desk, links
from eventkit.web.deps import Language, LimitedForm, WebDep
from eventkit.web.forms import field_errors, form_context
from eventkit.web.pages import Web, event_context, load, render_event

router = APIRouter(include_in_schema=False)


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
def show_event(request: Request, slug: str, web: WebDep, language: Language) -> HTMLResponse:
    return render_event(web, request, slug, "event.html", language)


@router.get("/e/{slug}/event.ics")
def event_ics(request: Request, slug: str, web: WebDep, language: Language) -> Response:
    """The public calendar entry (METHOD:PUBLISH): no attendee, no personal link."""
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
def register_form(request: Request, slug: str, web: WebDep, language: Language, t: str | None = None) -> HTMLResponse:
    values: dict[str, Any] = {}
    if t:
        # the personal invitation link fills in what is known about the invited person (a read, no change)
        with web.rt.store.session() as session:
            event, _spec = load_event(session, slug)
            person = links.invitation_person(session, web.rt, event.id, t)
            if person is not None:
                values = {"name": person.name, "email": person.email, "organisation": person.organisation or ""}
                if "lang" not in request.query_params:
                    language = person.language
            else:
                t = None
    return render_form(web, request, slug, language, values=values, invitation_token=t)


@router.post("/e/{slug}/register", response_class=HTMLResponse)
async def register_submit(request: Request, slug: str, web: WebDep, form: LimitedForm) -> Response:
    language = form.language
    _event, _spec, _fmt, fields = load(web, slug)
    token = form.text("t") or None
    try:
        data = parse_registration(fields, form.values, source="form")
    except ValidationFailed as exc:
        errors = field_errors(exc, language, lambda name: label_of(name, fields, language))
        return render_form(
            web, request, slug, language, values=form.values, errors=errors, invitation_token=token, status_code=422
        )
    if data.language is None:
        data = type(data)(data.name, data.email, data.organisation, language, data.answers)
    outcome = desk.submit(web.rt, slug, data, invitation_token=token)
    web.pump.notify(slug)
    if outcome.status == "pending":
        return RedirectResponse(f"/e/{slug}/check-mail?lang={language}", status_code=303)
    if outcome.manage_token is None:
        # already registered through their own invitation link: their page, with what they have
        return RedirectResponse(f"/e/{slug}/check-mail?lang={language}&already=1", status_code=303)
    return RedirectResponse(f"/e/{slug}/manage?t={outcome.manage_token}&new=1&lang={language}", status_code=303)


@router.get("/e/{slug}/check-mail", response_class=HTMLResponse)
def check_mail(request: Request, slug: str, web: WebDep, language: Language, already: int = 0) -> HTMLResponse:
    return render_event(web, request, slug, "check_mail.html", language, {"already": bool(already)})


@router.get("/e/{slug}/privacy", response_class=HTMLResponse)
def privacy_notice(request: Request, slug: str, web: WebDep, language: Language) -> HTMLResponse:
    """The event's privacy notice (templates/formats/<format>/web/privacy.html overrides _base's)."""
    event, spec, fmt, fields = load(web, slug)
    rules = retention.policy(spec)
    zone = spec.start.tzinfo
    context = event_context(web, event, spec, fmt, language)
    context["privacy"] = SimpleNamespace(
        version=consents.notice_version(spec),
        personal_until=rules.personal_until.astimezone(zone),
        funder_until=rules.funder_until.astimezone(zone),
        funded=rules.funded,
        months=spec.extra.get("retention_months") or retention.DEFAULT_MONTHS,
        years=spec.extra.get("funder_retention_years") or retention.DEFAULT_FUNDER_YEARS,
        fields={f.name for f in fields},
    )
    return web.page(request, "privacy.html", language, context, format_name=fmt.name)
