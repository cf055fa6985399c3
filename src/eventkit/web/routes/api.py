"""The JSON API of the contract: register, the public facts of an event, the organisers' list.

Every bad input is a 4xx naming the field and the problem ({"detail": [{"field", "message"}]}), in German
unless the request asks for English (Accept-Language: en). A POST must be JSON (Content-Type
application/json): a page on another site cannot send that without the browser asking first (CORS), so the
API needs no CSRF token.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from eventkit.core.errors import N_
from eventkit.core.i18n import gettext_for
from eventkit.core.validation import ValidationFailed
from eventkit.events.events import load_event
from eventkit.model.registration_form import parse_registration
from eventkit.registration import desk, queries, rules, specs
from eventkit.web.deps import Organiser
from eventkit.web.errors import TooManyRequests
from eventkit.web.pages import Web, web_of
from eventkit.web.security import client_address

router = APIRouter(prefix="/api", tags=["registration"])
MAX_BODY = 64 * 1024


class RegistrationRequest(BaseModel):
    """Core fields; the format's own fields (GET /api/events/{slug}/form lists them) may be added."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(max_length=200, examples=["Дмитрий Müller"])
    email: str = Field(max_length=254, examples=["d.mueller@example.org"])
    organisation: str | None = Field(default=None, max_length=300)
    privacy_consent: Literal[True]
    language: Literal["de", "en"] | None = None
    invitation_token: str | None = Field(
        default=None, description="the token of a personal invitation link (?t=...): no confirmation email needed"
    )


class RegistrationResponse(BaseModel):
    status: Literal["registered", "waitlisted", "pending"] = Field(
        description="pending: a confirmation link was sent to the address (double opt-in); the place counts "
        "once it is confirmed"
    )
    created: bool = Field(description="false when the person was registered already and gets that back")
    position: int | None = Field(default=None, description="place on the waiting list, counted from 1")
    message: str


class FieldError(BaseModel):
    field: str
    message: str


class ErrorResponse(BaseModel):
    detail: list[FieldError] | str


def _errors(status: int, items: list[tuple[str, str]] | str) -> JSONResponse:
    if isinstance(items, str):
        return JSONResponse({"detail": items}, status_code=status)
    return JSONResponse({"detail": [{"field": f, "message": m} for f, m in items]}, status_code=status)


@router.post(
    "/events/{slug}/registrations",
    status_code=201,
    response_model=RegistrationResponse,
    responses={
        404: {"model": ErrorResponse, "description": "no such event"},
        409: {"model": ErrorResponse, "description": "registration is closed"},
        413: {"model": ErrorResponse, "description": "body too large"},
        415: {"model": ErrorResponse, "description": "not JSON"},
        422: {"model": ErrorResponse, "description": "field errors"},
        429: {"model": ErrorResponse, "description": "too many requests from this client"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": RegistrationRequest.model_json_schema()}},
        }
    },
)
async def register(request: Request, slug: str) -> Any:
    """Register for an event. With a valid `invitation_token` for the same address the place (or the place
    on the waiting list) is given at once; otherwise the address gets a confirmation link first."""
    web = web_of(request)
    language = web.language(request)
    _ = gettext_for(language).gettext
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return _errors(415, _("Send the registration as JSON (Content-Type: application/json)."))
    body = await request.body()
    if len(body) > MAX_BODY:
        return _errors(413, _("The request is too large."))
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _errors(422, [("body", _("is not valid JSON"))])
    if not isinstance(data, dict):
        return _errors(422, [("body", _("must be a JSON object"))])
    # everything that touches the database runs in one worker thread: the event loop never waits for it
    return await run_in_threadpool(_register, web, request, slug, data, language)


def _register(web: Web, request: Request, slug: str, data: dict[str, Any], language: str) -> JSONResponse:
    _ = gettext_for(language).gettext
    # the event as this process knows it (no query once seen); submit checks that it is still that version
    version, spec = specs.known_spec(web.rt, slug)  # 404 before anything is counted
    retry_after = web.limiter.hit(client_address(request))
    if retry_after is not None:
        raise TooManyRequests(retry_after, N_("Too many requests. Please wait %(seconds)s seconds and try again."))
    token = data.get("invitation_token")
    if token is not None and (not isinstance(token, str) or not token.isascii() or len(token) > 200):
        return _errors(422, [("invitation_token", _("must be a text"))])
    for _attempt in range(3):
        fields = specs.event_fields(web.rt, spec)
        try:
            parsed = parse_registration(fields, data, source="json")
        except ValidationFailed as exc:
            return _errors(
                422,
                [
                    (p.field or "body", _(p.message) % dict(p.params) if p.params else _(p.message))
                    for p in exc.problems
                ],
            )
        if parsed.language is None:
            parsed = type(parsed)(parsed.name, parsed.email, parsed.organisation, language, parsed.answers)
        try:
            outcome = desk.submit(web.rt, slug, parsed, invitation_token=token, checked_with=version)
            break
        except rules.SpecChanged:
            # the organiser changed the event meanwhile: check the input against the new version
            version, spec = specs.known_spec(web.rt, slug, fresh=True)
    else:
        outcome = desk.submit(web.rt, slug, parsed, invitation_token=token)
    web.pump.notify(slug)
    messages = {
        "registered": _("You are registered. A confirmation is on its way by email."),
        "waitlisted": _(
            "The event is full; you are on the waiting list. We will tell you by email when a place is free."
        ),
        "pending": _("Please confirm your registration with the link we have sent to your email address."),
    }
    return JSONResponse(
        {
            "status": outcome.status,
            "created": outcome.created,
            "position": outcome.position,
            "message": messages.get(outcome.status, ""),
        },
        status_code=201,  # the contract: also when the person gets an existing registration back (created: false)
    )


@router.get("/events/{slug}")
def event_info(request: Request, slug: str) -> Any:
    """The public facts of an event and whether places are left."""
    web = web_of(request)
    with web.rt.store.session() as session:
        event, spec = load_event(session, slug)
        status = event.status
    availability = queries.availability(web.rt, slug)
    return {
        "slug": spec.slug,
        "title": spec.title,
        "format": spec.format,
        "start": spec.start.isoformat(),
        "end": spec.end.isoformat(),
        "timezone": spec.timezone,
        "status": status,
        "venue": None if spec.venue is None else {"name": spec.venue.name, "address": spec.venue.address},
        "online": bool(spec.online_url),
        "capacity": availability["capacity"],
        "places_left": availability["places_left"],
        "registration_open": availability["open"],
        "registration_deadline": spec.registration_deadline.isoformat() if spec.registration_deadline else None,
    }


@router.get("/events/{slug}/form")
def form_description(request: Request, slug: str) -> Any:
    """The registration fields of this event (core fields and the format's own), with their options."""
    web = web_of(request)
    language = web.language(request)
    with web.rt.store.session() as session:
        _event, spec = load_event(session, slug)
    fields = specs.event_fields(web.rt, spec)
    return {
        "fields": [
            {
                "name": f.name,
                "type": f.type,
                "label": f.label.get(language),
                "required": f.required,
                "options": [{"value": v, "label": t.get(language)} for v, t in f.options] or None,
            }
            for f in fields
        ]
    }


@router.get("/events/{slug}/registrations", tags=["organisers"], dependencies=[Organiser])
def registrations_list(request: Request, slug: str) -> Any:
    """Every registration of the event (organisers only: Authorization: Bearer EVENTKIT_ADMIN_TOKEN)."""
    web = web_of(request)
    _spec, rows = queries.listing(web.rt, slug)
    return {
        "registrations": [
            {
                "id": r.id,
                "status": r.status,
                "name": r.name,
                "email": r.email,
                "organisation": r.organisation,
                "language": r.language,
                "source": r.source,
                "answers": r.answers,
                "created_at": r.created_at.isoformat(),
                "checked_in_at": r.checked_in_at.isoformat() if r.checked_in_at else None,
                "waitlist_position": r.position,
            }
            for r in rows
        ]
    }
