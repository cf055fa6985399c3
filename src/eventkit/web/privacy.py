"""Privacy pages: the event's privacy notice, one-click unsubscribe (RFC 8058), consents on the personal page.

`POST /u/{token}` unsubscribes without a CSRF token, on purpose: RFC 8058 has the mail provider post
`List-Unsubscribe=One-Click` to the link from the header, without cookies and without loading a page, so
no CSRF token could ever reach it. It is safe all the same: the signed token in the path is the secret
(no other site knows it), the only thing it can do is stop invitations (never start them), and doing it
twice changes nothing. `GET /u/{token}` only shows a page with a button: a link scanner or a prefetching
mail client that follows the link changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from eventkit.consent import consents
from eventkit.consent.consents import InvalidUnsubscribeLink
from eventkit.core.i18n import gettext_for
from eventkit.privacy import retention
from eventkit.registration import registrations
from eventkit.registration.registrations import InvalidLink
from eventkit.web.app import NO_FORMAT, Web
from eventkit.web.pages import event_context, field_text, form_values, load, web_of

router = APIRouter(include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store"}


def _invalid_unsubscribe(web: Web, request: Request, language: str) -> HTMLResponse:
    _ = gettext_for(language).gettext
    response = web.error_page(
        request,
        404,
        _(
            "This unsubscribe link is not valid. Please use the link from your most recent invitation exactly "
            "as it is written there, or write to the organisers."
        ),
        language,
    )
    response.headers.update(NO_STORE)
    return response


def _unsubscribe_page(web: Web, request: Request, token: str, *, done: bool) -> HTMLResponse:
    language = web.language(request)
    try:
        state = consents.peek_unsubscribe(web.rt, token)
    except InvalidUnsubscribeLink:
        return _invalid_unsubscribe(web, request, language)
    if "lang" not in request.query_params:
        language = state.language
    context = {"token": token, "name": state.name, "unsubscribed": state.unsubscribed, "done": done}
    response = web.page(request, "unsubscribe.html", language, context, format_name=NO_FORMAT)
    response.headers.update(NO_STORE)
    return response


@router.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: str) -> HTMLResponse:
    """Shows the button; changes nothing (scanners and prefetching mail clients follow links)."""
    return _unsubscribe_page(web_of(request), request, token, done=False)


@router.post("/u/{token}", response_class=HTMLResponse)
def unsubscribe_post(request: Request, token: str) -> HTMLResponse:
    """RFC 8058 one-click (the mail provider's POST of List-Unsubscribe=One-Click), and the page's button."""
    web = web_of(request)
    try:
        consents.unsubscribe(web.rt, token)
    except InvalidUnsubscribeLink:
        return _invalid_unsubscribe(web, request, web.language(request))
    return _unsubscribe_page(web, request, token, done=True)


@router.get("/e/{slug}/privacy", response_class=HTMLResponse)
def privacy_notice(request: Request, slug: str) -> HTMLResponse:
    """The event's privacy notice (templates/formats/<format>/web/privacy.html overrides _base's)."""
    web = web_of(request)
    language = web.language(request)
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


@router.post("/e/{slug}/consents", response_class=HTMLResponse)
async def consents_submit(request: Request, slug: str) -> Response:
    """The consents form of the personal page: each consent the form shows, as checked or not."""
    from eventkit.web.pages import _csrf_failed, _invalid_link

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
    _event, _spec, _fmt, fields = load(web, slug)
    shown = consents.kinds_of(fields)
    choices = {kind: values.get(kind) in ("on", "true", "1", "yes") for kind in shown}
    consents.set_choices(web.rt, info["id"], choices, "manage-page")
    return RedirectResponse(f"/e/{slug}/manage?t={token}&saved=1&lang={language}", status_code=303)


def consent_context(web: Web, registration_id: int, fields: Sequence[Any]) -> dict[str, object]:
    """What the personal page's consents section (web/_consents.html) needs."""
    view = consents.overview(web.rt, registration_id)
    return {
        "consents": SimpleNamespace(
            kinds=consents.kinds_of(fields),
            current=view["current"],
            history=view["history"],
            # like the answers, a choice nobody made yet counts as no (future invitations: as yes)
            checked={
                kind: view["current"].get(kind, kind == consents.FUTURE_INVITATIONS)
                for kind in consents.kinds_of(fields)
            },
        )
    }
