"""The session pages: the board (propose, mark interest), the published plan and its poster, a session's notes.

Participants are known by their personal link (`?t=`, the registration's manage token). A GET never
changes anything; every change is a POST with a CSRF token, answered by a redirect (303) to a page that
may be reloaded.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from eventkit.core.errors import N_, UserError
from eventkit.core.i18n import gettext_for
from eventkit.core.validation import ValidationFailed
from eventkit.documents.pdf import markdown_html
from eventkit.sessions import proposals, publish
from eventkit.sessions.board import SessionView, board, set_interest
from eventkit.sessions.notes import MAX_NOTES, notes_session, save_notes
from eventkit.sessions.participants import Participant, participant
from eventkit.web.deps import CheckedForm, Language, WebDep, within_rate_limit
from eventkit.web.forms import Form, field_errors
from eventkit.web.pages import Web, event_context, load

router = APIRouter(include_in_schema=False)


class NoBoard(UserError):
    """The event's format has no session board."""

    message = N_("This event has no session board.")
    status = 404


def _has_board(web: Web, slug: str) -> None:
    _event, _spec, fmt, _fields = load(web, slug)
    if "session_grid" not in fmt.spec_fields:
        raise NoBoard()


async def board_form(slug: str, web: WebDep, form: CheckedForm) -> Form:
    """A form of the board: its CSRF token checked, and the event has a board."""
    _has_board(web, slug)
    return form


BoardForm = Annotated[Form, Depends(board_form)]


def _proposal_labels(language: str) -> dict[str, str]:
    _ = gettext_for(language).gettext
    return {"title": _("Title of the session"), "description": _("What is it about?")}


def session_id(raw: str) -> int:
    """A session's id from an address or a form (UnknownSession when it is none)."""
    if not raw.isdigit() or len(raw) > 18:
        raise proposals.UnknownSession(raw[:40])
    return int(raw)


# ---------------------------------------------------------------------------------------------- the board


def _board_page(
    web: Web,
    request: Request,
    slug: str,
    language: str,
    token: str,
    who: Participant | None,
    *,
    values: dict[str, Any] | None = None,
    errors: list[SimpleNamespace] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    event, spec, fmt, _f = load(web, slug)
    context = event_context(web, event, spec, fmt, language)
    views = board(web.rt, slug, viewer=who.registration_id if who else None)
    context.update(
        sessions=views,
        who=who,
        token=token if who else "",
        values=values or {},
        errors=errors or [],
        error_for={e.field: e for e in errors or []},
        labels=_proposal_labels(language),
        proposed=request.query_params.get("proposed") == "1",
        published=publish.published(web.rt, slug) is not None,
        max_title=proposals.MAX_TITLE,
        max_description=proposals.MAX_DESCRIPTION,
    )
    return web.page(
        request, "sessions.html", language, context, format_name=fmt.name, status_code=status_code, csrf=who is not None
    )


@router.get("/e/{slug}/sessions", response_class=HTMLResponse)
def board_page(request: Request, slug: str, web: WebDep, language: Language, t: str = "") -> HTMLResponse:
    _has_board(web, slug)
    who = None
    if t:
        who = participant(web.rt, slug, t)
        if "lang" not in request.query_params:
            language = who.language
    return _board_page(web, request, slug, language, t, who)


def _back(slug: str, token: str, language: str, extra: str = "", anchor: str = "") -> RedirectResponse:
    url = f"/e/{slug}/sessions?t={quote(token)}&lang={language}{extra}{anchor}"
    return RedirectResponse(url, status_code=303)


@router.post("/e/{slug}/sessions", response_class=HTMLResponse)
async def propose(request: Request, slug: str, web: WebDep, form: BoardForm) -> Response:
    within_rate_limit(request, web)
    language, token, values = form.language, form.text("t"), form.values
    try:
        proposal_id = proposals.propose(web.rt, slug, token, values.get("title"), values.get("description"))
    except ValidationFailed as exc:
        who = participant(web.rt, slug, token)  # a wrong link is reported as such, not its form
        shown = {k: form.text(k) for k in ("title", "description")}
        labels = _proposal_labels(language)
        errors = field_errors(exc, language, lambda name: labels.get(name, name))
        return _board_page(web, request, slug, language, token, who, values=shown, errors=errors, status_code=422)
    return _back(slug, token, language, "&proposed=1", f"#s-{proposal_id}")


@router.post("/e/{slug}/sessions/interest", response_class=HTMLResponse)
async def interest(request: Request, slug: str, web: WebDep, form: BoardForm) -> Response:
    action = form.text("interest")
    if action not in ("yes", "no"):
        raise UserError(N_("The form did not say whether you are interested."))
    token = form.text("t")
    proposal_id = set_interest(web.rt, slug, token, form.text("session"), action == "yes")
    return _back(slug, token, form.language, anchor=f"#s-{proposal_id}")


# ---------------------------------------------------------------------------------------------- the plan


@router.get("/e/{slug}/plan", response_class=HTMLResponse)
def plan_page(request: Request, slug: str, web: WebDep, language: Language) -> HTMLResponse:
    event, spec, fmt, _f = load(web, slug)
    plan = publish.published(web.rt, slug)
    if plan is None:
        raise publish.NotPublished(slug)
    context = event_context(web, event, spec, fmt, language)
    context.update(plan=publish.plan_view(plan, spec))
    return web.page(request, "plan.html", language, context, format_name=fmt.name)


@router.get("/e/{slug}/plan.pdf", response_model=None)
def plan_pdf(request: Request, slug: str, web: WebDep, language: Language) -> Response:
    load(web, slug)  # an unknown event is a 404 of its own
    path = publish.plan_pdf(web.rt, slug, language)
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
    view: SessionView,
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
        max_notes=MAX_NOTES,
    )
    return web.page(
        request, "sessions_notes.html", language, context, format_name=fmt.name, status_code=status_code, csrf=True
    )


@router.get("/e/{slug}/sessions/{proposal_id}/notes", response_class=HTMLResponse)
def notes_page(
    request: Request, slug: str, proposal_id: str, web: WebDep, language: Language, t: str = ""
) -> HTMLResponse:
    load(web, slug)
    view = notes_session(web.rt, slug, session_id(proposal_id), t)
    return _notes_page(web, request, slug, language, view, t)


@router.post("/e/{slug}/sessions/{proposal_id}/notes", response_class=HTMLResponse)
async def notes_submit(request: Request, slug: str, proposal_id: str, web: WebDep, form: CheckedForm) -> Response:
    load(web, slug)
    number = session_id(proposal_id)
    language, token = form.language, form.text("t")
    try:
        save_notes(web.rt, slug, number, token, form.values.get("notes"))
    except ValidationFailed as exc:
        view = notes_session(web.rt, slug, number, token)
        _ = gettext_for(language).gettext
        labels = {"notes": _("Notes")}
        errors = field_errors(exc, language, lambda name: labels.get(name, name))
        text = form.text("notes")
        return _notes_page(web, request, slug, language, view, token, text=text, errors=errors, status_code=422)
    url = f"/e/{slug}/sessions/{proposal_id}/notes?t={quote(token)}&saved=1&lang={language}"
    return RedirectResponse(url, status_code=303)
