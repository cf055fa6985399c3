"""The pages behind a person's links: confirming, their registration (answers, consents), cancelling, unsubscribing.

A link from an email leads to a page with a button; the change is the button's POST with a CSRF token,
answered by a redirect (303) to a page that may be reloaded.

`POST /u/{token}` unsubscribes without a CSRF token, on purpose: RFC 8058 has the mail provider post
`List-Unsubscribe=One-Click` to the link from the header, without cookies and without loading a page, so
no CSRF token could ever reach it. It is safe all the same: the signed token in the path is the secret
(no other site knows it), the only thing it can do is stop invitations (never start them), and doing it
twice changes nothing. `GET /u/{token}` only shows a page with a button: a link scanner or a prefetching
mail client that follows the link changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from eventkit.consent import consents
from eventkit.core.validation import ValidationFailed
from eventkit.db.store import Registration
from eventkit.model.registration_form import label_of, parse_registration
from eventkit.registration import cancellation, links, optin, rules
from eventkit.web.deps import CheckedForm, ConfirmLink, Language, ManageLink, WebDep
from eventkit.web.forms import field_errors, form_context
from eventkit.web.pages import NO_FORMAT, Web, event_context, load, render_event

router = APIRouter(include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/e/{slug}/confirm", response_class=HTMLResponse)
def confirm_page(request: Request, slug: str, web: WebDep, link: ConfirmLink) -> HTMLResponse:
    info = link.registration
    expired = info["status"] == "expired" or (
        info["status"] == "pending" and info["expires_at"] is not None and info["expires_at"] <= datetime.now(UTC)
    )
    context = {"registration": SimpleNamespace(**info), "token": link.token, "expired": expired}
    return render_event(web, request, slug, "confirm.html", link.language, context, csrf=True)


@router.post("/e/{slug}/confirm", response_class=HTMLResponse)
async def confirm_submit(request: Request, slug: str, web: WebDep, form: CheckedForm) -> Response:
    language, token = form.language, form.text("t")
    outcome = optin.confirm(web.rt, slug, token)
    web.pump.notify(slug)
    if outcome.status == "expired":
        return RedirectResponse(f"/e/{slug}/confirm?t={token}&lang={language}", status_code=303)
    with web.rt.store.session() as session:
        registration = session.get(Registration, outcome.registration_id)
        assert registration is not None
        manage = rules.manage_token(web.rt, registration)
    flag = "&new=1" if outcome.created else ""
    return RedirectResponse(f"/e/{slug}/manage?t={manage}{flag}&lang={language}", status_code=303)


@router.get("/e/{slug}/manage", response_class=HTMLResponse)
def manage_page(
    request: Request, slug: str, web: WebDep, link: ManageLink, new: int = 0, saved: int = 0
) -> HTMLResponse:
    info, language = link.registration, link.language
    event, spec, fmt, fields = load(web, slug)
    values = {
        "name": info["name"],
        "email": info["email"],
        "organisation": info["organisation"] or "",
        **info["answers"],
    }
    # the same form, in its "your registration" frame
    context = event_context(web, event, spec, fmt, language)
    context.update(
        registration=SimpleNamespace(**info),
        token=link.token,
        new=bool(new),
        saved=bool(saved),
        **form_context(slug, fields, language, values, mode="manage", token=link.token),
    )
    context.update(consent_context(web, info["id"], fields))  # what was consented to, shown and changeable
    return web.page(request, "manage.html", language, context, format_name=fmt.name, csrf=True)


@router.post("/e/{slug}/manage", response_class=HTMLResponse)
async def manage_submit(request: Request, slug: str, web: WebDep, form: CheckedForm) -> Response:
    language, token, values = form.language, form.text("t"), form.values
    info = links.peek(web.rt, slug, "manage", token)
    event, spec, fmt, fields = load(web, slug)
    values["email"] = info["email"]  # the confirmed address is not changed here
    values["privacy_consent"] = "on"  # given when registering
    try:
        data = parse_registration(fields, values, source="form")
        links.update(web.rt, slug, token, data)
    except ValidationFailed as exc:
        context = event_context(web, event, spec, fmt, language)
        errors = field_errors(exc, language, lambda name: label_of(name, fields, language))
        context.update(
            registration=SimpleNamespace(**info),
            token=token,
            new=False,
            saved=False,
            **form_context(slug, fields, language, values, errors, mode="manage", token=token),
        )
        return web.page(request, "manage.html", language, context, format_name=fmt.name, status_code=422, csrf=True)
    return RedirectResponse(f"/e/{slug}/manage?t={token}&saved=1&lang={language}", status_code=303)


@router.get("/e/{slug}/cancel", response_class=HTMLResponse)
def cancel_page(request: Request, slug: str, web: WebDep, link: ManageLink) -> HTMLResponse:
    context = {"registration": SimpleNamespace(**link.registration), "token": link.token}
    return render_event(web, request, slug, "cancel.html", link.language, context, csrf=True)


@router.post("/e/{slug}/cancel", response_class=HTMLResponse)
async def cancel_submit(request: Request, slug: str, web: WebDep, form: CheckedForm) -> Response:
    token = form.text("t")
    cancellation.cancel(web.rt, slug, token)
    web.pump.notify(slug)
    return RedirectResponse(f"/e/{slug}/manage?t={token}&lang={form.language}", status_code=303)


@router.post("/e/{slug}/consents", response_class=HTMLResponse)
async def consents_submit(request: Request, slug: str, web: WebDep, form: CheckedForm) -> Response:
    """The consents form of the personal page: each consent the form shows, as checked or not."""
    token = form.text("t")
    info = links.peek(web.rt, slug, "manage", token)
    _event, _spec, _fmt, fields = load(web, slug)
    shown = consents.kinds_of(fields)
    choices = {kind: form.values.get(kind) in ("on", "true", "1", "yes") for kind in shown}
    consents.set_choices(web.rt, info["id"], choices, "manage-page")
    return RedirectResponse(f"/e/{slug}/manage?t={token}&saved=1&lang={form.language}", status_code=303)


def consent_context(web: Web, registration_id: int, fields: Sequence[Any]) -> dict[str, object]:
    """What the personal page's consents section (web/_consents.html) needs."""
    view = consents.overview(web.rt, registration_id)
    kinds = consents.kinds_of(fields)
    return {
        "consents": SimpleNamespace(
            kinds=kinds,
            current=view["current"],
            history=view["history"],
            # a box is ticked only when a record grants it: a choice nobody made is no consent
            checked={kind: view["current"].get(kind) is True for kind in kinds},
            refused=view["refused"],
            unsubscribe=view["unsubscribe"],
        )
    }


def _unsubscribe_page(web: Web, request: Request, token: str, language: str, *, done: bool) -> HTMLResponse:
    state = consents.peek_unsubscribe(web.rt, token)
    if "lang" not in request.query_params:
        language = state.language
    context = {"token": token, "name": state.name, "unsubscribed": state.unsubscribed, "done": done}
    response = web.page(request, "unsubscribe.html", language, context, format_name=NO_FORMAT)
    response.headers.update(NO_STORE)
    return response


@router.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: str, web: WebDep, language: Language) -> HTMLResponse:
    """Shows the button; changes nothing (scanners and prefetching mail clients follow links)."""
    return _unsubscribe_page(web, request, token, language, done=False)


@router.post("/u/{token}", response_class=HTMLResponse)
def unsubscribe_post(request: Request, token: str, web: WebDep, language: Language) -> HTMLResponse:
    """RFC 8058 one-click (the mail provider's POST of List-Unsubscribe=One-Click), and the page's button."""
    consents.unsubscribe(web.rt, token)
    return _unsubscribe_page(web, request, token, language, done=True)
