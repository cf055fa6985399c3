"""FastAPI dependencies: the app's Web, a page's language, a checked form, the organisers' check, a personal link."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from eventkit.registration import links
from eventkit.web.errors import FormExpired, NotOrganiser, OrganiserFormExpired, TooManyRequests
from eventkit.web.forms import Form, form_values
from eventkit.web.pages import Web, web_of
from eventkit.web.security import client_address


async def _web(request: Request) -> Web:
    return web_of(request)


WebDep = Annotated[Web, Depends(_web)]


async def language(request: Request, web: WebDep) -> str:
    """?lang=, else the browser's Accept-Language, else German; error pages of the request use it too."""
    chosen = web.language(request)
    request.state.language = chosen
    return chosen


Language = Annotated[str, Depends(language)]


async def submitted(request: Request, web: WebDep) -> Form:
    """The form as sent (not checked); its lang field, if any, is the language of the answer."""
    values = form_values(await request.form())
    lang = values.get("lang")
    form = Form(values, web.language(request, lang if isinstance(lang, str) and lang else None))
    request.state.language = form.language
    return form


Submitted = Annotated[Form, Depends(submitted)]


async def checked_form(request: Request, web: WebDep, form: Submitted) -> Form:
    """A form with the CSRF token of this browser (FormExpired otherwise)."""
    if not web.csrf.valid(request, form.values.get("csrf_token")):
        raise FormExpired()
    return form


CheckedForm = Annotated[Form, Depends(checked_form)]


def within_rate_limit(request: Request, web: Web) -> None:
    """Counts the request against the client's rate limit; TooManyRequests beyond it."""
    retry_after = web.limiter.hit(client_address(request))
    if retry_after is not None:
        raise TooManyRequests(retry_after)


async def limited_form(request: Request, web: WebDep, form: CheckedForm) -> Form:
    """A checked form from a client within the rate limit (a form that fails its check is not counted)."""
    within_rate_limit(request, web)
    return form


LimitedForm = Annotated[Form, Depends(limited_form)]


async def organiser(request: Request, web: WebDep, _language: Language) -> None:
    """Organisers only (NotOrganiser: the login page in the page's language, or 401 under /api/)."""
    if not web.admin.allowed(request):
        raise NotOrganiser()


Organiser = Depends(organiser)


async def organiser_form(request: Request, web: WebDep, form: Submitted) -> Form:
    """An organiser's form: the organisers' check first, then its CSRF token."""
    if not web.admin.allowed(request):
        raise NotOrganiser()
    if not web.csrf.valid(request, form.values.get("csrf_token")):
        raise OrganiserFormExpired()
    return form


OrganiserForm = Annotated[Form, Depends(organiser_form)]


@dataclass
class PersonalLink:
    """A registration's personal link from an email (?t=), resolved: InvalidLink when it matches none."""

    token: str
    registration: dict[str, Any]  # what links.peek shows
    language: str  # the person's own, unless ?lang= chose another


def personal_link(purpose: str) -> Callable[..., PersonalLink]:
    """The dependency that resolves ?t= as a link made for `purpose` (confirm, manage)."""

    def resolve(request: Request, slug: str, web: WebDep, t: str = "") -> PersonalLink:
        info = links.peek(web.rt, slug, purpose, t)
        chosen = web.language(request) if "lang" in request.query_params else info["language"]
        return PersonalLink(t, info, chosen)

    return resolve


ConfirmLink = Annotated[PersonalLink, Depends(personal_link("confirm"))]
ManageLink = Annotated[PersonalLink, Depends(personal_link("manage"))]
