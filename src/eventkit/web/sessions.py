"""The session pages: the board (propose, mark interest), the published plan and its poster, host notes,
and the organisers' planning page (grid, planner, moves, freezing, publishing, working groups).

Participants are known by their personal link (`?t=`, the registration's manage token). A GET never
changes anything; every change is a POST with a CSRF token, answered by a redirect (303) to a page that
may be reloaded.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from eventkit.core.i18n import gettext_for
from eventkit.core.validation import ValidationFailed
from eventkit.documents.pdf import markdown_html
from eventkit.model import planner
from eventkit.registration.registrations import InvalidLink
from eventkit.sessions import sessions
from eventkit.web.admin import _refuse
from eventkit.web.app import Web
from eventkit.web.pages import event_context, field_text, form_values, load, web_of
from eventkit.web.security import client_address

router = APIRouter(include_in_schema=False)
admin_router = APIRouter(prefix="/admin", include_in_schema=False)


# ---------------------------------------------------------------------------------------------- answers


def _error(web: Web, request: Request, status: int, message: str, language: str) -> HTMLResponse:
    return web.error_page(request, status, message, language)


def _invalid_link(web: Web, request: Request, language: str) -> HTMLResponse:
    _ = gettext_for(language).gettext
    return _error(
        web,
        request,
        404,
        _(
            "This personal link is not valid (any more). Please use the link from your most recent email, "
            "or open the session board from your personal registration page."
        ),
        language,
    )


def _not_registered(web: Web, request: Request, language: str) -> HTMLResponse:
    _ = gettext_for(language).gettext
    return _error(
        web,
        request,
        403,
        _("Only people with a place at the event can propose sessions and mark interest."),
        language,
    )


def _unknown_session(web: Web, request: Request, language: str) -> HTMLResponse:
    _ = gettext_for(language).gettext
    return _error(web, request, 404, _("There is no such session (any more) at this event."), language)


def _no_board(web: Web, request: Request, language: str) -> HTMLResponse:
    _ = gettext_for(language).gettext
    return _error(web, request, 404, _("This event has no session board."), language)


def _csrf_failed(web: Web, request: Request, language: str) -> HTMLResponse:
    _ = gettext_for(language).gettext
    return _error(
        web,
        request,
        400,
        _(
            "The form has expired or your browser did not send its security cookie. "
            "Please go back, reload the page and send the form again."
        ),
        language,
    )


def _errors(exc: ValidationFailed, labels: dict[str, str], language: str) -> list[SimpleNamespace]:
    _ = gettext_for(language).gettext
    out = []
    for problem in exc.problems:
        name = problem.field or ""
        message = _(problem.message) % dict(problem.params) if problem.params else _(problem.message)
        out.append(SimpleNamespace(field=name, label=labels.get(name, name), message=message))
    return out


def _proposal_labels(language: str) -> dict[str, str]:
    _ = gettext_for(language).gettext
    return {"title": _("Title of the session"), "description": _("What is it about?")}


def _has_board(web: Web, slug: str) -> bool:
    _event, spec, fmt, _fields = load(web, slug)
    return "session_grid" in fmt.spec_fields


# ---------------------------------------------------------------------------------------------- the board


def _board_page(
    web: Web,
    request: Request,
    slug: str,
    language: str,
    token: str,
    who: sessions.Participant | None,
    *,
    values: dict[str, Any] | None = None,
    errors: list[SimpleNamespace] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    event, spec, fmt, _f = load(web, slug)
    context = event_context(web, event, spec, fmt, language)
    views = sessions.board(web.rt, slug, viewer=who.registration_id if who else None)
    context.update(
        sessions=views,
        who=who,
        token=token if who else "",
        values=values or {},
        errors=errors or [],
        error_for={e.field: e for e in errors or []},
        labels=_proposal_labels(language),
        proposed=request.query_params.get("proposed") == "1",
        published=sessions.published(web.rt, slug) is not None,
        max_title=sessions.MAX_TITLE,
        max_description=sessions.MAX_DESCRIPTION,
    )
    return web.page(
        request, "sessions.html", language, context, format_name=fmt.name, status_code=status_code, csrf=who is not None
    )


def _who(web: Web, request: Request, slug: str, token: str, language: str) -> sessions.Participant | HTMLResponse:
    try:
        return sessions.participant(web.rt, slug, token)
    except InvalidLink:
        return _invalid_link(web, request, language)
    except sessions.NotRegistered:
        return _not_registered(web, request, language)


@router.get("/e/{slug}/sessions", response_class=HTMLResponse)
def board_page(request: Request, slug: str, t: str = "") -> HTMLResponse:
    web = web_of(request)
    language = web.language(request)
    if not _has_board(web, slug):
        return _no_board(web, request, language)
    who = None
    if t:
        found = _who(web, request, slug, t, language)
        if isinstance(found, HTMLResponse):
            return found
        who = found
        if "lang" not in request.query_params:
            language = who.language
    return _board_page(web, request, slug, language, t, who)


async def _board_form(request: Request, slug: str) -> tuple[Web, dict[str, Any], str, str] | Response:
    """A board form: CSRF, the event's board and the personal link checked."""
    web = web_of(request)
    values = form_values(await request.form())
    language = web.language(request, field_text(values, "lang") or None)
    if not web.csrf.valid(request, values.get("csrf_token")):
        return _csrf_failed(web, request, language)
    if not _has_board(web, slug):
        return _no_board(web, request, language)
    return web, values, language, field_text(values, "t")


def _back(slug: str, token: str, language: str, extra: str = "", anchor: str = "") -> RedirectResponse:
    url = f"/e/{slug}/sessions?t={quote(token)}&lang={language}{extra}{anchor}"
    return RedirectResponse(url, status_code=303)


@router.post("/e/{slug}/sessions", response_class=HTMLResponse)
async def propose(request: Request, slug: str) -> Response:
    checked = await _board_form(request, slug)
    if isinstance(checked, Response):
        return checked
    web, values, language, token = checked
    retry_after = web.limiter.hit(client_address(request))
    if retry_after is not None:
        _ = gettext_for(language).gettext
        response = _error(
            web,
            request,
            429,
            _("You have sent many forms in a short time. Please wait %(seconds)s seconds and try again.")
            % {"seconds": retry_after},
            language,
        )
        response.headers["Retry-After"] = str(retry_after)
        return response
    try:
        proposal_id = sessions.propose(web.rt, slug, token, values.get("title"), values.get("description"))
    except InvalidLink:
        return _invalid_link(web, request, language)
    except sessions.NotRegistered:
        return _not_registered(web, request, language)
    except ValidationFailed as exc:
        who = _who(web, request, slug, token, language)  # a wrong link is reported as such, not its form
        if isinstance(who, HTMLResponse):
            return who
        shown = {k: field_text(values, k) for k in ("title", "description")}
        errors = _errors(exc, _proposal_labels(language), language)
        return _board_page(web, request, slug, language, token, who, values=shown, errors=errors, status_code=422)
    return _back(slug, token, language, "&proposed=1", f"#s-{proposal_id}")


@router.post("/e/{slug}/sessions/interest", response_class=HTMLResponse)
async def interest(request: Request, slug: str) -> Response:
    checked = await _board_form(request, slug)
    if isinstance(checked, Response):
        return checked
    web, values, language, token = checked
    key = field_text(values, "session")
    action = field_text(values, "interest")
    if action not in ("yes", "no"):
        _ = gettext_for(language).gettext
        return _error(web, request, 400, _("The form did not say whether you are interested."), language)
    try:
        proposal_id = sessions.set_interest(web.rt, slug, token, key, action == "yes")
    except InvalidLink:
        return _invalid_link(web, request, language)
    except sessions.NotRegistered:
        return _not_registered(web, request, language)
    except sessions.UnknownSession:
        return _unknown_session(web, request, language)
    return _back(slug, token, language, anchor=f"#s-{proposal_id}")


# ---------------------------------------------------------------------------------------------- the plan


@router.get("/e/{slug}/plan", response_class=HTMLResponse)
def plan_page(request: Request, slug: str) -> HTMLResponse:
    web = web_of(request)
    language = web.language(request)
    event, spec, fmt, _f = load(web, slug)
    plan = sessions.published(web.rt, slug)
    if plan is None:
        _ = gettext_for(language).gettext
        return _error(web, request, 404, _("The session plan has not been published yet."), language)
    context = event_context(web, event, spec, fmt, language)
    context.update(plan=sessions.plan_view(plan, spec))
    return web.page(request, "plan.html", language, context, format_name=fmt.name)


@router.get("/e/{slug}/plan.pdf", response_model=None)
def plan_pdf(request: Request, slug: str) -> Response:
    web = web_of(request)
    language = web.language(request)
    load(web, slug)  # an unknown event is a 404 of its own
    try:
        path = sessions.plan_pdf(web.rt, slug, language)
    except sessions.NotPublished:
        _ = gettext_for(language).gettext
        return _error(web, request, 404, _("The session plan has not been published yet."), language)
    return FileResponse(
        path,
        media_type="application/pdf",
        filename=f"{'Sessionplan' if language == 'de' else 'session-plan'}-{slug}.pdf",
        content_disposition_type="inline",
    )


# ---------------------------------------------------------------------------------------------- notes


def _notes_page(
    web: Web,
    request: Request,
    slug: str,
    language: str,
    view: sessions.SessionView,
    token: str,
    *,
    text: str | None = None,
    errors: list[SimpleNamespace] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    event, spec, fmt, _f = load(web, slug)
    context = event_context(web, event, spec, fmt, language)
    context.update(
        session=view,
        token=token,
        text=view.notes if text is None else text,
        preview=markdown_html(view.notes) if view.notes else "",
        saved=request.query_params.get("saved") == "1",
        errors=errors or [],
        error_for={e.field: e for e in errors or []},
        max_notes=sessions.MAX_NOTES,
    )
    return web.page(
        request, "sessions_notes.html", language, context, format_name=fmt.name, status_code=status_code, csrf=True
    )


@router.get("/e/{slug}/sessions/{proposal_id}/notes", response_class=HTMLResponse)
def notes_page(request: Request, slug: str, proposal_id: str, t: str = "") -> HTMLResponse:
    web = web_of(request)
    language = web.language(request)
    load(web, slug)
    if not proposal_id.isdigit() or len(proposal_id) > 18:
        return _unknown_session(web, request, language)
    try:
        view = sessions.notes_session(web.rt, slug, int(proposal_id), t)
    except InvalidLink:
        return _invalid_link(web, request, language)
    return _notes_page(web, request, slug, language, view, t)


@router.post("/e/{slug}/sessions/{proposal_id}/notes", response_class=HTMLResponse)
async def notes_submit(request: Request, slug: str, proposal_id: str) -> Response:
    web = web_of(request)
    values = form_values(await request.form())
    language = web.language(request, field_text(values, "lang") or None)
    if not web.csrf.valid(request, values.get("csrf_token")):
        return _csrf_failed(web, request, language)
    load(web, slug)
    if not proposal_id.isdigit() or len(proposal_id) > 18:
        return _unknown_session(web, request, language)
    token = field_text(values, "t")
    try:
        sessions.save_notes(web.rt, slug, int(proposal_id), token, values.get("notes"))
    except InvalidLink:
        return _invalid_link(web, request, language)
    except ValidationFailed as exc:
        try:
            view = sessions.notes_session(web.rt, slug, int(proposal_id), token)
        except InvalidLink:
            return _invalid_link(web, request, language)
        _ = gettext_for(language).gettext
        errors = _errors(exc, {"notes": _("Notes")}, language)
        return _notes_page(
            web, request, slug, language, view, token, text=field_text(values, "notes"), errors=errors, status_code=422
        )
    url = f"/e/{slug}/sessions/{proposal_id}/notes?t={quote(token)}&saved=1&lang={language}"
    return RedirectResponse(url, status_code=303)


# ---------------------------------------------------------------------------------------------- organisers


def _admin_page(
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
        draft = sessions.draft(web.rt, slug)
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
        published = sessions.published(web.rt, slug)
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
            notes_links={v.id: sessions.notes_link(web.rt, slug, v.id) for v in draft.sessions if v.id is not None},
        )
    if has_groups:
        context["groups"] = sessions.working_groups(web.rt, slug)
    return web.page(request, "admin/sessions.html", language, context, status_code=status_code, csrf=True)


@admin_router.get("/events/{slug}/sessions", response_class=HTMLResponse)
def admin_sessions(request: Request, slug: str) -> Response:
    web = web_of(request)
    language = web.language(request)
    if not web.admin.allowed(request):
        return _refuse(web, request, language)
    return _admin_page(web, request, slug, language)


async def _admin_form(request: Request, slug: str) -> tuple[Web, dict[str, Any], str] | Response:
    web = web_of(request)
    values = form_values(await request.form())
    language = web.language(request, field_text(values, "lang") or None)
    _ = gettext_for(language).gettext
    if not web.admin.allowed(request):
        return _refuse(web, request, language)
    if not web.csrf.valid(request, values.get("csrf_token")):
        return _error(web, request, 400, _("The form has expired. Please reload the page and try again."), language)
    load(web, slug)
    return web, values, language


def _admin_back(slug: str, language: str, done: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"/admin/events/{quote(slug)}/sessions?lang={language}&done={done}{anchor}", 303)


def _admin_labels(language: str) -> dict[str, str]:
    _ = gettext_for(language).gettext
    return {
        "rounds": _("Rounds"),
        "rooms": _("Rooms or tables"),
        "slot": _("Place"),
        "session": _("Session"),
    }


def _session_id(values: dict[str, Any]) -> int | None:
    raw = field_text(values, "session")
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


@admin_router.post("/events/{slug}/sessions/grid", response_class=HTMLResponse)
async def admin_grid(request: Request, slug: str) -> Response:
    checked = await _admin_form(request, slug)
    if isinstance(checked, Response):
        return checked
    web, values, language = checked
    rounds, rooms = field_text(values, "rounds"), field_text(values, "rooms")
    try:
        sessions.set_grid(web.rt, slug, sessions.parse_grid_form(rounds, rooms))
    except ValidationFailed as exc:
        errors = _errors(exc, _admin_labels(language), language)
        return _admin_page(
            web, request, slug, language, errors=errors, grid_values={"rounds": rounds, "rooms": rooms}, status_code=422
        )
    return _admin_back(slug, language, "grid")


@admin_router.post("/events/{slug}/sessions/plan", response_class=HTMLResponse)
async def admin_plan(request: Request, slug: str) -> Response:
    checked = await _admin_form(request, slug)
    if isinstance(checked, Response):
        return checked
    web, _values, language = checked
    try:
        sessions.plan(web.rt, slug)
    except sessions.NoGrid:
        _ = gettext_for(language).gettext
        return _error(web, request, 409, _("Set the grid (rounds and rooms) first."), language)
    return _admin_back(slug, language, "planned", "#draft-title")


@admin_router.post("/events/{slug}/sessions/move", response_class=HTMLResponse)
async def admin_move(request: Request, slug: str) -> Response:
    checked = await _admin_form(request, slug)
    if isinstance(checked, Response):
        return checked
    web, values, language = checked
    proposal_id = _session_id(values)
    target = field_text(values, "slot")
    if proposal_id is None:
        return _unknown_session(web, request, language)
    round_index: int | None = None
    room: str | None = None
    if target:
        head, _sep, room = target.partition("|")
        round_index = int(head) if head.isdigit() and len(head) < 4 else -1
    try:
        sessions.move(web.rt, slug, proposal_id, round_index, room)
    except sessions.UnknownSession:
        return _unknown_session(web, request, language)
    except ValidationFailed as exc:
        return _admin_page(
            web, request, slug, language, errors=_errors(exc, _admin_labels(language), language), status_code=422
        )
    return _admin_back(slug, language, "moved", f"#session-{proposal_id}")


@admin_router.post("/events/{slug}/sessions/freeze", response_class=HTMLResponse)
async def admin_freeze(request: Request, slug: str) -> Response:
    checked = await _admin_form(request, slug)
    if isinstance(checked, Response):
        return checked
    web, values, language = checked
    proposal_id = _session_id(values)
    if proposal_id is None:
        return _unknown_session(web, request, language)
    try:
        sessions.freeze(web.rt, slug, proposal_id, field_text(values, "frozen") == "1")
    except sessions.UnknownSession:
        return _unknown_session(web, request, language)
    except ValidationFailed as exc:
        return _admin_page(
            web, request, slug, language, errors=_errors(exc, _admin_labels(language), language), status_code=422
        )
    return _admin_back(slug, language, "frozen", f"#session-{proposal_id}")


@admin_router.post("/events/{slug}/sessions/publish", response_class=HTMLResponse)
async def admin_publish(request: Request, slug: str) -> Response:
    checked = await _admin_form(request, slug)
    if isinstance(checked, Response):
        return checked
    web, values, language = checked
    try:
        sessions.publish(web.rt, slug)
    except sessions.NotPublished:
        _ = gettext_for(language).gettext
        return _error(web, request, 409, _("There is no plan to publish yet: plan the sessions first."), language)
    if values.get("send") == "on":
        sessions.enqueue_plan_emails(web.rt, slug)
        web.pump.notify(slug)
        return _admin_back(slug, language, "sent", "#publish-title")
    return _admin_back(slug, language, "published", "#publish-title")


@admin_router.post("/events/{slug}/groups", response_class=HTMLResponse)
async def admin_groups(request: Request, slug: str) -> Response:
    checked = await _admin_form(request, slug)
    if isinstance(checked, Response):
        return checked
    web, _values, language = checked
    _event, spec, fmt, _f = load(web, slug)
    if "working_groups" not in fmt.spec_fields:
        _ = gettext_for(language).gettext
        return _error(web, request, 404, _("This event has no working groups."), language)
    sessions.assign_working_groups(web.rt, slug)
    return _admin_back(slug, language, "groups", "#groups-title")
