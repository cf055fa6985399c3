"""The survey pages: the form behind a personal survey link, and what a used, closed or wrong link shows.

The GET only shows; the answers are a POST with a CSRF token, stored once per link (eventkit.survey.survey).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from eventkit.core.i18n import gettext_for
from eventkit.core.validation import ValidationFailed
from eventkit.survey import survey
from eventkit.survey.survey import AlreadyAnswered, Definition, InvalidSurveyLink, SurveyClosed
from eventkit.web.app import Web
from eventkit.web.pages import event_context, field_text, form_values, load, web_of
from eventkit.web.security import client_address

router = APIRouter(include_in_schema=False)


def _message(web: Web, request: Request, slug: str, language: str, title: str, message: str, status: int) -> Response:
    event, spec, fmt, _f = load(web, slug)
    context = event_context(web, event, spec, fmt, language)
    context.update(title=title, message=message)
    return web.page(request, "survey_message.html", language, context, format_name=fmt.name, status_code=status)


def _invalid(web: Web, request: Request, slug: str, language: str) -> Response:
    _ = gettext_for(language).gettext
    load(web, slug)  # an unknown event is a 404 of its own
    return web.error_page(
        request,
        404,
        _(
            "This survey link is not valid. Please use the link from your most recent email about the survey, "
            "exactly as it is written there."
        ),
        language,
    )


def _answered(web: Web, request: Request, slug: str, language: str) -> Response:
    _ = gettext_for(language).gettext
    return _message(
        web,
        request,
        slug,
        language,
        _("Already answered"),
        _("This survey has already been answered with this link. Each link can be used once. Thank you!"),
        409,
    )


def _closed(web: Web, request: Request, slug: str, language: str) -> Response:
    _ = gettext_for(language).gettext
    return _message(
        web,
        request,
        slug,
        language,
        _("The survey is closed"),
        _("This survey has ended, so no more answers can be given. Thank you for your interest!"),
        410,
    )


def _errors(exc: ValidationFailed, definition: Definition, language: str) -> list[SimpleNamespace]:
    _ = gettext_for(language).gettext
    out = []
    for problem in exc.problems:
        name = problem.field or ""
        question = definition.get(name)
        message = _(problem.message) % dict(problem.params) if problem.params else _(problem.message)
        label = question.label.get(language) if question else name
        out.append(SimpleNamespace(field=name, label=label, message=message))
    return out


def _form(
    web: Web,
    request: Request,
    slug: str,
    view: survey.SurveyView,
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


def _view(web: Web, request: Request, slug: str, token: str, language: str) -> survey.SurveyView | Response:
    try:
        return survey.peek(web.rt, slug, token)
    except InvalidSurveyLink:
        return _invalid(web, request, slug, language)
    except (SurveyClosed, AlreadyAnswered) as exc:
        if exc.language and "lang" not in request.query_params and request.method == "GET":
            language = exc.language  # the person's own, like the form
        page = _closed if isinstance(exc, SurveyClosed) else _answered
        return page(web, request, slug, language)


@router.get("/e/{slug}/survey", response_class=HTMLResponse)
def survey_page(request: Request, slug: str, t: str = "") -> Response:
    web = web_of(request)
    language = web.language(request)
    found = _view(web, request, slug, t, language)
    if isinstance(found, Response):
        return found
    if "lang" not in request.query_params:
        language = found.language  # the person's own language, unless the page was switched
    return _form(web, request, slug, found, t, language, {})


@router.post("/e/{slug}/survey", response_class=HTMLResponse)
async def survey_submit(request: Request, slug: str) -> Response:
    web = web_of(request)
    values = form_values(await request.form())
    language = web.language(request, field_text(values, "lang") or None)
    _ = gettext_for(language).gettext
    if not web.csrf.valid(request, values.get("csrf_token")):
        return web.error_page(
            request,
            400,
            _(
                "The form has expired or your browser did not send its security cookie. "
                "Please go back, reload the page and send the form again."
            ),
            language,
        )
    retry_after = web.limiter.hit(client_address(request))
    if retry_after is not None:
        response = web.error_page(
            request,
            429,
            _("You have sent many forms in a short time. Please wait %(seconds)s seconds and try again.")
            % {"seconds": retry_after},
            language,
        )
        response.headers["Retry-After"] = str(retry_after)
        return response
    token = field_text(values, "t")
    try:
        survey.submit(web.rt, slug, token, values)
    except InvalidSurveyLink:
        return _invalid(web, request, slug, language)
    except SurveyClosed:
        return _closed(web, request, slug, language)
    except AlreadyAnswered:
        return _answered(web, request, slug, language)
    except ValidationFailed as exc:
        found = _view(web, request, slug, token, language)
        if isinstance(found, Response):
            return found
        return _form(web, request, slug, found, token, language, values, _errors(exc, found.definition, language), 422)
    return RedirectResponse(f"/e/{slug}/survey/thanks?lang={language}", status_code=303)


@router.get("/e/{slug}/survey/thanks", response_class=HTMLResponse)
def survey_thanks(request: Request, slug: str) -> Response:
    web = web_of(request)
    language = web.language(request)
    _ = gettext_for(language).gettext
    return _message(
        web,
        request,
        slug,
        language,
        _("Thank you!"),
        _("Your answers have been saved, without your name. They help us make the next meeting better."),
        200,
    )
