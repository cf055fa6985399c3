"""The organisers' planning page of an event's sessions: grid, planner, moves, freezing, publishing, working groups."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from eventkit.core.errors import N_, UserError
from eventkit.core.i18n import gettext_for
from eventkit.core.validation import ValidationFailed
from eventkit.model import planner
from eventkit.sessions import planning, publish
from eventkit.sessions.emails import enqueue_plan_emails
from eventkit.sessions.grid import parse_grid_form, set_grid
from eventkit.sessions.groups import assign_working_groups, working_groups
from eventkit.sessions.notes import notes_link
from eventkit.web.deps import Language, Organiser, OrganiserForm, WebDep
from eventkit.web.forms import field_errors
from eventkit.web.pages import Web, load
from eventkit.web.routes.sessions import session_id

router = APIRouter(prefix="/admin", include_in_schema=False)


class NoWorkingGroups(UserError):
    """The event's format has no working groups."""

    message = N_("This event has no working groups.")
    status = 404


def _labels(language: str) -> dict[str, str]:
    _ = gettext_for(language).gettext
    return {
        "rounds": _("Rounds"),
        "rooms": _("Rooms or tables"),
        "slot": _("Place"),
        "session": _("Session"),
    }


def _errors(exc: ValidationFailed, language: str) -> list[SimpleNamespace]:
    labels = _labels(language)
    return field_errors(exc, language, lambda name: labels.get(name, name))


def _page(
    web: Web,
    request: Request,
    slug: str,
    language: str,
    *,
    errors: list[SimpleNamespace] | None = None,
    grid_values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    event, spec, fmt, _f = load(web, slug)
    _ = gettext_for(language).gettext
    has_sessions = "session_grid" in fmt.spec_fields
    has_groups = "working_groups" in fmt.spec_fields
    context: dict[str, Any] = {
        "event": spec,
        "format_title": fmt.title.get(language),
        "has_sessions": has_sessions,
        "has_groups": has_groups,
        "errors": errors or [],
        "error_for": {e.field: e for e in errors or []},
        "done": request.query_params.get("done", ""),
    }
    if has_sessions:
        draft = planning.draft(web.rt, slug)
        grid = draft.grid
        placed = {sid: slot for sid, slot in draft.placements.items()}
        by_slot = {(slot.round, slot.room): sid for sid, slot in placed.items()}
        titles = {v.id: v for v in draft.sessions if v.id is not None}
        rounds = (
            [SimpleNamespace(index=i, number=i + 1, start=r.start, end=r.end) for i, r in enumerate(grid.rounds)]
            if grid
            else []
        )
        slots = [
            SimpleNamespace(
                value=f"{r.index}|{room.name}", label=_("Round %(num)s") % {"num": r.number} + f" · {room.name}"
            )
            for r in rounds
            for room in (grid.rooms if grid else ())
            if grid and grid.has(r.index, room.name)
        ]
        published = publish.published(web.rt, slug)
        context.update(
            grid=grid,
            rounds=rounds,
            cell=lambda r, room: titles.get(by_slot.get((r, room))),  # type: ignore[arg-type]
            sessions=draft.sessions,
            placed=placed,
            frozen=draft.frozen,
            slots=slots,
            reasons=[planner.describe(r, language) for r in draft.reasons],
            served=draft.served,
            interest=draft.interest,
            published=published,
            grid_values=grid_values
            or {
                "rounds": "\n".join(f"{r.start}-{r.end}" for r in grid.rounds)
                if grid and all(r.start for r in grid.rounds)
                else (str(len(grid.rounds)) if grid else ""),
                "rooms": "\n".join(f"{r.name}, {r.capacity}" for r in grid.rooms) if grid else "",
            },
            notes_links={v.id: notes_link(web.rt, slug, v.id) for v in draft.sessions if v.id is not None},
        )
    if has_groups:
        context["groups"] = working_groups(web.rt, slug)
    return web.page(request, "admin/sessions.html", language, context, status_code=status_code, csrf=True)


def _back(slug: str, language: str, done: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"/admin/events/{quote(slug)}/sessions?lang={language}&done={done}{anchor}", 303)


@router.get("/events/{slug}/sessions", response_class=HTMLResponse, dependencies=[Organiser])
def admin_sessions(request: Request, slug: str, web: WebDep, language: Language) -> Response:
    return _page(web, request, slug, language)


@router.post("/events/{slug}/sessions/grid", response_class=HTMLResponse)
async def admin_grid(request: Request, slug: str, web: WebDep, form: OrganiserForm) -> Response:
    load(web, slug)
    language = form.language
    rounds, rooms = form.text("rounds"), form.text("rooms")
    try:
        set_grid(web.rt, slug, parse_grid_form(rounds, rooms))
    except ValidationFailed as exc:
        grid_values = {"rounds": rounds, "rooms": rooms}
        errors = _errors(exc, language)
        return _page(web, request, slug, language, errors=errors, grid_values=grid_values, status_code=422)
    return _back(slug, language, "grid")


@router.post("/events/{slug}/sessions/plan", response_class=HTMLResponse)
async def admin_plan(request: Request, slug: str, web: WebDep, form: OrganiserForm) -> Response:
    load(web, slug)
    planning.plan(web.rt, slug)
    return _back(slug, form.language, "planned", "#draft-title")


@router.post("/events/{slug}/sessions/move", response_class=HTMLResponse)
async def admin_move(request: Request, slug: str, web: WebDep, form: OrganiserForm) -> Response:
    load(web, slug)
    language = form.language
    proposal_id = session_id(form.text("session"))
    target = form.text("slot")
    round_index: int | None = None
    room: str | None = None
    if target:
        head, _sep, room = target.partition("|")
        round_index = int(head) if head.isdigit() and len(head) < 4 else -1
    try:
        planning.move(web.rt, slug, proposal_id, round_index, room)
    except ValidationFailed as exc:
        return _page(web, request, slug, language, errors=_errors(exc, language), status_code=422)
    return _back(slug, language, "moved", f"#session-{proposal_id}")


@router.post("/events/{slug}/sessions/freeze", response_class=HTMLResponse)
async def admin_freeze(request: Request, slug: str, web: WebDep, form: OrganiserForm) -> Response:
    load(web, slug)
    language = form.language
    proposal_id = session_id(form.text("session"))
    try:
        planning.freeze(web.rt, slug, proposal_id, form.text("frozen") == "1")
    except ValidationFailed as exc:
        return _page(web, request, slug, language, errors=_errors(exc, language), status_code=422)
    return _back(slug, language, "frozen", f"#session-{proposal_id}")


@router.post("/events/{slug}/sessions/publish", response_class=HTMLResponse)
async def admin_publish(request: Request, slug: str, web: WebDep, form: OrganiserForm) -> Response:
    load(web, slug)
    publish.publish(web.rt, slug)
    if form.values.get("send") == "on":
        enqueue_plan_emails(web.rt, slug)
        web.pump.notify(slug)
        return _back(slug, form.language, "sent", "#publish-title")
    return _back(slug, form.language, "published", "#publish-title")


@router.post("/events/{slug}/groups", response_class=HTMLResponse)
async def admin_groups(request: Request, slug: str, web: WebDep, form: OrganiserForm) -> Response:
    _event, _spec, fmt, _f = load(web, slug)
    if "working_groups" not in fmt.spec_fields:
        raise NoWorkingGroups()
    assign_working_groups(web.rt, slug)
    return _back(slug, form.language, "groups", "#groups-title")
