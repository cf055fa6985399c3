"""The survey pages: the form behind a personal survey link, and the thanks; a used, closed or wrong link is an error.

The GET only shows; the answers are a POST with a CSRF token, stored once per link (eventkit.survey.responses).
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from eventkit.core.i18n import gettext_for
from eventkit.core.validation import ValidationFailed
from eventkit.model.survey import Definition
from eventkit.survey import responses
from eventkit.web.deps import Language, LimitedForm, WebDep
from eventkit.web.forms import field_errors
from eventkit.web.pages import Web, event_context, load, render_event

router = APIRouter(include_in_schema=False)


def _label(definition: Definition, language: str) -> Callable[[str], str]:
    def label(name: str) -> str:
        question = definition.get(name)
        return question.label.get(language) if question else name

    return label


def _form(
    web: Web,
    request: Request,
    slug: str,
    view: responses.SurveyView,
    token: str,
    language: str,
    values: dict[str, Any],
    errors: list[SimpleNamespace] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    event, spec, fmt, _f = load(web, slug)
    context = event_context(web, event, spec, fmt, language)
    context.update(
        questions=view.definition.questions,
        values=values,
        errors=errors or [],
        error_for={e.field: e for e in errors or []},
        token=token,
        closes_at=view.closes_at.astimezone(spec.start.tzinfo),
    )
    return web.page(request, "survey.html", language, context, format_name=fmt.name, status_code=status_code, csrf=True)


@router.get("/e/{slug}/survey", response_class=HTMLResponse)
def survey_page(request: Request, slug: str, web: WebDep, language: Language, t: str = "") -> Response:
    view = responses.peek(web.rt, slug, t)
    if "lang" not in request.query_params:
        language = view.language  # the person's own language, unless the page was switched
    return _form(web, request, slug, view, t, language, {})


@router.post("/e/{slug}/survey", response_class=HTMLResponse)
async def survey_submit(request: Request, slug: str, web: WebDep, form: LimitedForm) -> Response:
    language, token = form.language, form.text("t")
    try:
        responses.submit(web.rt, slug, token, form.values)
    except ValidationFailed as exc:
        view = responses.peek(web.rt, slug, token)
        errors = field_errors(exc, language, _label(view.definition, language))
        return _form(web, request, slug, view, token, language, form.values, errors, 422)
    return RedirectResponse(f"/e/{slug}/survey/thanks?lang={language}", status_code=303)


@router.get("/e/{slug}/survey/thanks", response_class=HTMLResponse)
def survey_thanks(request: Request, slug: str, web: WebDep, language: Language) -> Response:
    _ = gettext_for(language).gettext
    context = {
        "title": _("Thank you!"),
        "message": _("Your answers have been saved, without your name. They help us make the next meeting better."),
    }
    return render_event(web, request, slug, "survey_message.html", language, context)
