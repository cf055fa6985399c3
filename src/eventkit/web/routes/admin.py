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

from eventkit.core.errors import N_, UserError
from eventkit.core.i18n import gettext_for
from eventkit.core.validation import ValidationFailed
from eventkit.db.store import Event, Registration
from eventkit.door import checkins
from eventkit.events.events import format_for
from eventkit.model.multiday import attends, per_day
from eventkit.model.registration_form import CORE_LABELS, answers_summary
from eventkit.model.spec import EventSpec
from eventkit.registration import cancellation, queries, specs
from eventkit.registration.rules import InvalidLink
from eventkit.web.deps import Language, Organiser, OrganiserForm, Submitted, WebDep
from eventkit.web.errors import NotOrganiser, OrganiserFormExpired
from eventkit.web.forms import Form
from eventkit.web.pages import Web
from eventkit.web.security import ADMIN_COOKIE, client_address, set_cookie

router = APIRouter(prefix="/admin", include_in_schema=False)
# answers that ask the organisers to do something before the day
ACTION_FIELDS = ("support_needs", "interpreting_language", "support_other", "dietary", "dietary_other")


class NoSuchRegistration(UserError):
    """The registration an organiser's form names is not one with a place at this event."""

    message = N_("There is no such registration with a place.")
    status = 404


@router.get("", response_class=HTMLResponse, dependencies=[Organiser])
def admin_home(language: Language) -> Response:
    return RedirectResponse(f"/admin/events?lang={language}", status_code=303)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, web: WebDep, form: Submitted) -> Response:
    language = form.language
    if not web.admin.enabled:
        raise NotOrganiser()  # the page that says the organisers' pages are off
    if not web.csrf.valid(request, form.values.get("csrf_token")):
        raise OrganiserFormExpired()
    retry_after = web.limiter.hit("admin-login:" + client_address(request))
    if retry_after is not None or not web.admin.check_token(form.text("token")):
        context = {"failed": True, "next": "/admin/events"}
        return web.page(request, "admin/login.html", language, context, status_code=401, csrf=True)
    target = form.text("next") or "/admin/events"
    if not target.startswith("/admin/") or "//" in target or "\\" in target:
        target = "/admin/events"
    redirect = RedirectResponse(f"{target}?lang={language}", status_code=303)
    set_cookie(redirect, request, ADMIN_COOKIE, web.admin.cookie_value(), max_age=12 * 3600)
    return redirect


@router.post("/logout")
async def logout(request: Request, web: WebDep, form: Submitted) -> Response:
    response = RedirectResponse(f"/admin?lang={form.language}", status_code=303)
    if web.csrf.valid(request, form.values.get("csrf_token")):
        response.delete_cookie(ADMIN_COOKIE, path="/")
    return response


@router.get("/events", response_class=HTMLResponse, dependencies=[Organiser])
def events(request: Request, web: WebDep, language: Language) -> Response:
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
    spec, rows = queries.listing(web.rt, slug)
    fields = specs.event_fields(web.rt, spec)
    people = [SimpleNamespace(**vars(r), summary=answers_summary(fields, r.answers, language)) for r in rows]
    return spec, people, fields


def _chosen_day(spec: EventSpec, value: str | None) -> date:
    """The check-in view's ?day= if it is one of the event's days, else today's (or the first)."""
    try:
        day = checkins.parse_day(value) if value else None
    except ValidationFailed:
        day = None
    return day if day in spec.days else checkins.default_day(spec)


@router.get("/events/{slug}", response_class=HTMLResponse, dependencies=[Organiser])
def event_admin(request: Request, slug: str, web: WebDep, language: Language) -> Response:
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


@router.get("/events/{slug}/registrations.csv", dependencies=[Organiser])
def export_csv(request: Request, slug: str, web: WebDep, language: Language) -> Response:
    """All registrations with their answers, for a spreadsheet: UTF-8 with BOM, semicolons (German Excel)."""
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


def _registration_id(form: Form) -> int:
    raw = form.values.get("registration_id")
    if not isinstance(raw, str) or not raw.isdigit():
        raise UserError(N_("No registration was chosen."))
    return int(raw)


@router.post("/events/{slug}/checkin")
async def checkin(slug: str, web: WebDep, form: OrganiserForm) -> Response:
    registration_id = _registration_id(form)
    present = form.values.get("present") == "1"
    # the day of a multi-day event's check-in view; without one, the day it is (single-day events: their day)
    raw_day = form.text("day")
    day = checkins.parse_day(raw_day) if raw_day else None
    if not checkins.check_in(web.rt, slug, registration_id, present, day):
        raise NoSuchRegistration()
    chosen = f"&day={day.isoformat()}" if day else ""
    url = f"/admin/events/{quote(slug)}?lang={form.language}{chosen}#r-{registration_id}"
    return RedirectResponse(url, status_code=303)


@router.post("/events/{slug}/cancel")
async def cancel_for(slug: str, web: WebDep, form: OrganiserForm) -> Response:
    """The organisers cancel a registration (someone called to say so): the person is told by email."""
    registration_id = _registration_id(form)
    try:
        cancellation.cancel_by_organiser(web.rt, slug, registration_id)
    except InvalidLink as exc:  # not a link here: the form named a registration without a place
        raise NoSuchRegistration() from exc
    web.pump.notify(slug)
    return RedirectResponse(f"/admin/events/{quote(slug)}?lang={form.language}", status_code=303)
