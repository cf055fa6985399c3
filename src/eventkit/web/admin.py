"""The organisers' pages: registrations, waiting list, support needs to act on, CSV export, check-in (per day).

They need EVENTKIT_ADMIN_TOKEN: as a bearer token, or typed once into the login form (which sets a signed,
HttpOnly cookie). Without the setting the pages are off.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from babel.dates import format_date
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from eventkit.core.i18n import gettext_for
from eventkit.core.validation import ValidationFailed
from eventkit.db.store import Event, Registration
from eventkit.door import checkins
from eventkit.events.events import format_for
from eventkit.model.multiday import attends, per_day
from eventkit.model.registration_form import CORE_LABELS, answers_summary
from eventkit.model.spec import EventSpec
from eventkit.registration import registrations
from eventkit.registration.registrations import InvalidLink
from eventkit.web.app import Web
from eventkit.web.pages import field_text, form_values
from eventkit.web.security import ADMIN_COOKIE, client_address, set_cookie

router = APIRouter(prefix="/admin", include_in_schema=False)
# answers that ask the organisers to do something before the day
ACTION_FIELDS = ("support_needs", "interpreting_language", "support_other", "dietary", "dietary_other")


def _web(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def _refuse(web: Web, request: Request, language: str) -> HTMLResponse:
    _ = gettext_for(language).gettext
    if not web.admin.enabled:
        return web.error_page(
            request,
            404,
            _("The organisers' pages are switched off. Set EVENTKIT_ADMIN_TOKEN to use them."),
            language,
        )
    response = web.page(
        request,
        "admin/login.html",
        language,
        {"failed": False, "next": request.url.path},
        status_code=401,
        csrf=True,
    )
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


@router.get("", response_class=HTMLResponse)
def admin_home(request: Request) -> Response:
    web = _web(request)
    language = web.language(request)
    if not web.admin.allowed(request):
        return _refuse(web, request, language)
    return RedirectResponse(f"/admin/events?lang={language}", status_code=303)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    web = _web(request)
    form = form_values(await request.form())
    language = web.language(request, field_text(form, "lang") or None)
    _ = gettext_for(language).gettext
    if not web.admin.enabled:
        return _refuse(web, request, language)
    if not web.csrf.valid(request, form.get("csrf_token")):
        return web.error_page(request, 400, _("The form has expired. Please reload the page and try again."), language)
    retry_after = web.limiter.hit("admin-login:" + client_address(request))
    token = field_text(form, "token")
    if retry_after is not None or not web.admin.check_token(token):
        response = web.page(
            request,
            "admin/login.html",
            language,
            {"failed": True, "next": "/admin/events"},
            status_code=401,
            csrf=True,
        )
        return response
    target = field_text(form, "next") or "/admin/events"
    if not target.startswith("/admin/") or "//" in target or "\\" in target:
        target = "/admin/events"
    redirect = RedirectResponse(f"{target}?lang={language}", status_code=303)
    set_cookie(redirect, request, ADMIN_COOKIE, web.admin.cookie_value(), max_age=12 * 3600)
    return redirect


@router.post("/logout")
async def logout(request: Request) -> Response:
    web = _web(request)
    form = form_values(await request.form())
    language = web.language(request, field_text(form, "lang") or None)
    response = RedirectResponse(f"/admin?lang={language}", status_code=303)
    if web.csrf.valid(request, form.get("csrf_token")):
        response.delete_cookie(ADMIN_COOKIE, path="/")
    return response


@router.get("/events", response_class=HTMLResponse)
def events(request: Request) -> Response:
    web = _web(request)
    language = web.language(request)
    if not web.admin.allowed(request):
        return _refuse(web, request, language)
    with web.rt.store.session() as session:
        rows = session.execute(select(Event).order_by(Event.starts_at.desc())).scalars().all()
        counts = {
            (event_id, status): n
            for event_id, status, n in session.execute(
                select(Registration.event_id, Registration.status, func.count()).group_by(
                    Registration.event_id, Registration.status
                )
            )
        }
        items = [
            SimpleNamespace(
                slug=e.slug,
                title=e.title,
                start=e.starts_at,
                format=e.format,
                capacity=e.spec.get("capacity"),
                registered=counts.get((e.id, "registered"), 0),
                waitlisted=counts.get((e.id, "waitlisted"), 0),
                pending=counts.get((e.id, "pending"), 0),
            )
            for e in rows
        ]
    return web.page(request, "admin/events.html", language, {"events": items}, csrf=True)


def _people(web: Web, slug: str, language: str) -> tuple[Any, list[SimpleNamespace], list[Any]]:
    spec, rows = registrations.listing(web.rt, slug)
    fields = registrations.event_fields(web.rt, spec)
    people = [SimpleNamespace(**vars(r), summary=answers_summary(fields, r.answers, language)) for r in rows]
    return spec, people, fields


def _chosen_day(spec: EventSpec, value: str | None) -> date:
    """The check-in view's ?day= if it is one of the event's days, else today's (or the first)."""
    try:
        day = checkins.parse_day(value) if value else None
    except ValidationFailed:
        day = None
    return day if day in spec.days else checkins.default_day(spec)


@router.get("/events/{slug}", response_class=HTMLResponse)
def event_admin(request: Request, slug: str) -> Response:
    web = _web(request)
    language = web.language(request)
    if not web.admin.allowed(request):
        return _refuse(web, request, language)
    spec, people, fields = _people(web, slug, language)
    action_fields = [f for f in fields if f.name in ACTION_FIELDS]
    needs = [
        SimpleNamespace(person=p, items=answers_summary(action_fields, p.answers, language))
        for p in people
        if p.status in ("registered", "waitlisted") and answers_summary(action_fields, p.answers, language)
    ]
    fmt = format_for(web.rt.settings, spec.format)
    record = checkins.of_event(web.rt, slug)
    # a multi-day event is checked in one day at a time: ?day= only chooses which (today's by default)
    day = _chosen_day(spec, request.query_params.get("day"))
    registered = [p for p in people if p.status == "registered"]
    for p in registered:
        p.present_at = record.by_registration.get(p.id, {}).get(day)
        p.expected = attends(p.answers, day) if per_day(spec) else True
    context = {
        "event": spec,
        "format_title": fmt.title.get(language),
        "registered": registered,
        "waitlisted": [p for p in people if p.status == "waitlisted"],
        "pending": [p for p in people if p.status == "pending"],
        "cancelled": [p for p in people if p.status in ("cancelled", "expired")],
        "needs": needs,
        "checked_in": sum(1 for p in people if p.status == "registered" and p.checked_in_at),
        "csv_url": f"/admin/events/{quote(slug)}/registrations.csv?lang={language}",
        "day": day if spec.multi_day else None,
        "days": [
            SimpleNamespace(
                day=d,
                count=record.per_day.get(d, 0),
                url=f"/admin/events/{quote(slug)}?lang={language}&day={d.isoformat()}#checkin-days",
            )
            for d in spec.days
        ]
        if spec.multi_day
        else [],
    }
    return web.page(request, "admin/event.html", language, context, csrf=True)


@router.get("/events/{slug}/registrations.csv")
def export_csv(request: Request, slug: str) -> Response:
    """All registrations with their answers, for a spreadsheet: UTF-8 with BOM, semicolons (German Excel)."""
    web = _web(request)
    language = web.language(request)
    if not web.admin.allowed(request):
        return _refuse(web, request, language)
    _ = gettext_for(language).gettext
    spec, people, fields = _people(web, slug, language)
    # a multi-day event gets a column per day: the time of that day's check-in
    days = spec.days if spec.multi_day else []
    marks = checkins.of_event(web.rt, slug).by_registration if days else {}
    locale = "de_DE" if language == "de" else "en_GB"
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    header = [
        _("Status"),
        _("Waiting list position"),
        CORE_LABELS["name"].get(language),
        CORE_LABELS["email"].get(language),
        CORE_LABELS["organisation"].get(language),
        CORE_LABELS["language"].get(language),
        _("Registered at"),
        _("Checked in"),
        *[_("Checked in on %(day)s") % {"day": format_date(d, format="medium", locale=locale)} for d in days],
    ] + [f.label.get(language) for f in fields]
    writer.writerow(header)
    statuses = {
        "registered": _("registered"),
        "waitlisted": _("waiting list"),
        "pending": _("not yet confirmed"),
        "cancelled": _("cancelled"),
        "expired": _("expired"),
    }
    for p in people:
        answers = []
        for f in fields:
            value = p.answers.get(f.name)
            labels: dict[str, str] = {v: t.get(language) for v, t in f.options}
            if isinstance(value, list):
                answers.append(", ".join(labels.get(str(v), str(v)) for v in value))
            elif isinstance(value, bool):
                answers.append(_("yes") if value else "")
            else:
                answers.append(labels.get(str(value), str(value)) if value is not None else "")
        row = [
            statuses.get(p.status, p.status),
            p.position or "",
            p.name,
            p.email,
            p.organisation or "",
            p.language,
            p.created_at.astimezone(spec.start.tzinfo).strftime("%Y-%m-%d %H:%M"),
            _local(p.checked_in_at, spec),
            *[_local(marks.get(p.id, {}).get(d), spec) for d in days],
            *answers,
        ]
        # a cell that starts like a formula is shown as text by spreadsheet programs (CSV injection)
        writer.writerow(
            ["'" + c if isinstance(c, str) and c[:1] in ("=", "+", "-", "@", "\t", "\r") else c for c in row]
        )
    filename = f"{slug}-registrations-{datetime.now(UTC):%Y%m%d}.csv"
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"},
    )


def _local(at: datetime | None, spec: EventSpec) -> str:
    return at.astimezone(spec.start.tzinfo).strftime("%Y-%m-%d %H:%M") if at else ""


async def _registration_form(request: Request) -> tuple[Web, dict[str, Any], str, int] | Response:
    """An organiser's form about one registration: token, CSRF and the registration's id checked."""
    web = _web(request)
    form = form_values(await request.form())
    language = web.language(request, field_text(form, "lang") or None)
    _ = gettext_for(language).gettext
    if not web.admin.allowed(request):
        return _refuse(web, request, language)
    if not web.csrf.valid(request, form.get("csrf_token")):
        return web.error_page(request, 400, _("The form has expired. Please reload the page and try again."), language)
    raw_id = form.get("registration_id")
    if not isinstance(raw_id, str) or not raw_id.isdigit():
        return web.error_page(request, 400, _("No registration was chosen."), language)
    return web, form, language, int(raw_id)


@router.post("/events/{slug}/checkin")
async def checkin(request: Request, slug: str) -> Response:
    checked = await _registration_form(request)
    if isinstance(checked, Response):
        return checked
    web, form, language, registration_id = checked
    _ = gettext_for(language).gettext
    present = form.get("present") == "1"
    # the day of a multi-day event's check-in view; without one, the day it is (single-day events: their day)
    raw_day = field_text(form, "day")
    day: date | None = None
    try:
        if raw_day:
            day = checkins.parse_day(raw_day)
        done = checkins.check_in(web.rt, slug, registration_id, present, day)
    except ValidationFailed as exc:
        return web.error_page(request, 400, exc.render(language), language)
    if not done:
        return web.error_page(request, 404, _("There is no such registration with a place."), language)
    chosen = f"&day={day.isoformat()}" if day else ""
    return RedirectResponse(f"/admin/events/{quote(slug)}?lang={language}{chosen}#r-{registration_id}", status_code=303)


@router.post("/events/{slug}/cancel")
async def cancel_for(request: Request, slug: str) -> Response:
    """The organisers cancel a registration (someone called to say so): the person is told by email."""
    checked = await _registration_form(request)
    if isinstance(checked, Response):
        return checked
    web, form, language, registration_id = checked
    _ = gettext_for(language).gettext
    try:
        registrations.cancel_by_organiser(web.rt, slug, registration_id)
    except InvalidLink:
        return web.error_page(request, 404, _("There is no such registration with a place."), language)
    web.pump.notify(slug)
    return RedirectResponse(f"/admin/events/{quote(slug)}?lang={language}", status_code=303)
