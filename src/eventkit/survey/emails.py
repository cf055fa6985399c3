"""The survey's invitations and reminders: into the outbox once each, and what they show at delivery."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from eventkit.core.tokens import new_nonce
from eventkit.db.store import Event, OutboxMessage, Person, Registration, Survey, SurveyResponse, SurveyToken
from eventkit.events.events import find_event, format_for
from eventkit.mail import outbox
from eventkit.mail.compose import message_id
from eventkit.mail.mime import ascii_address
from eventkit.model.spec import EventSpec
from eventkit.registration import emails
from eventkit.runtime import Runtime
from eventkit.survey.questions import audience_of, closes_at, definition_for
from eventkit.survey.responses import is_open, survey_url

KINDS = ("survey-invitation", "survey-reminder")


def idempotency_key(event: Event, person_id: int, kind: str) -> str:
    # once per person and survey: a reschedule after the event changes nothing about it
    return f"{event.id}:{person_id}:{kind}"


def _existing_keys(session: Session, keys: list[str]) -> set[str]:
    existing: set[str] = set()
    for start in range(0, len(keys), 500):
        existing.update(
            session.scalars(
                select(OutboxMessage.idempotency_key).where(
                    OutboxMessage.idempotency_key.in_(keys[start : start + 500])
                )
            )
        )
    return existing


def _outbox_rows(
    session: Session, rt: Runtime, event: Event, kind: str, candidates: Sequence[Any]
) -> tuple[list[dict[str, Any]], int]:
    """Outbox rows of `kind` for candidates (token id, registration id, person id, email) not written yet;
    and how many had been written before."""
    keyed = {idempotency_key(event, c.person_id, kind): c for c in candidates}
    existing = _existing_keys(session, list(keyed))
    sender = ascii_address(rt.settings.mail_from)[0]
    rows = [
        {
            "idempotency_key": key,
            "event_id": event.id,
            "person_id": c.person_id,
            "registration_id": c.registration_id,
            "kind": kind,
            "sender": sender,
            "recipient": ascii_address(c.email)[0],
            "message_id": message_id(rt.settings),
            "subject": "",
            "raw": None,
            "params": {"survey_token_id": c.token_id, "name": None, "language": None},
            "smtputf8": False,
        }
        for key, c in keyed.items()
        if key not in existing
    ]
    return rows, len(existing)


def _tokens(session: Session, event_id: int, *, unanswered: bool = False) -> list[Any]:
    query = (
        select(
            SurveyToken.id.label("token_id"),
            Registration.id.label("registration_id"),
            Person.id.label("person_id"),
            Person.email,
        )
        .join(Registration, Registration.id == SurveyToken.registration_id)
        .join(Person, Person.id == Registration.person_id)
        .where(SurveyToken.event_id == event_id)
        .order_by(SurveyToken.id)
    )
    if unanswered:
        query = query.where(SurveyToken.answered.is_(False))
    return list(session.execute(query).all())


def open_survey(rt: Runtime, slug: str, *, now: datetime | None = None) -> dict[str, int]:
    """Open the survey after the event and put an invitation for everyone in its audience into the outbox.

    The audience is who attended (checked in), or with `survey_audience: registered` everyone with a
    place. Running it again invites only people not invited before (checked in late, say). Returns the
    counts; `not_ended`, `cancelled` or `closed` is 1 when nothing could be sent for that reason.
    """
    now = now or datetime.now(UTC)
    result = {"invited": 0, "already": 0, "audience": 0, "not_ended": 0, "cancelled": 0, "closed": 0}
    with rt.store.session(write_lock=True) as session:
        event = find_event(session, slug, lock=True)
        spec = EventSpec.from_data(event.spec)
        if event.status == "cancelled":
            result["cancelled"] = 1
            return result
        if now < spec.end:
            result["not_ended"] = 1
            return result
        fmt = format_for(rt.settings, spec.format)
        survey = session.scalar(select(Survey).where(Survey.event_id == event.id))
        if survey is None:
            survey = Survey(
                event_id=event.id,
                definition=definition_for(fmt, spec.extra).to_data(),
                audience=audience_of(spec),
                closes_at=closes_at(spec, fmt),
            )
            session.add(survey)
            session.flush()
        elif not session.scalar(select(func.count()).where(SurveyResponse.event_id == event.id)):
            # corrected in the spec before anybody answered: the questions may still change
            survey.definition = definition_for(fmt, spec.extra).to_data()
            survey.audience = audience_of(spec)
        if not is_open(survey, now):
            result["closed"] = 1
            return result
        audience = select(Registration.id).where(Registration.event_id == event.id, Registration.status == "registered")
        if survey.audience == "attended":
            audience = audience.where(Registration.checked_in_at.is_not(None))
        members = list(session.scalars(audience.order_by(Registration.id)))
        result["audience"] = len(members)
        known = set(session.scalars(select(SurveyToken.registration_id).where(SurveyToken.event_id == event.id)))
        fresh = [
            {"event_id": event.id, "registration_id": rid, "nonce": new_nonce(), "answered": False, "created_at": now}
            for rid in members
            if rid not in known
        ]
        if fresh:
            session.execute(insert(SurveyToken), fresh)
        rows, already = _outbox_rows(session, rt, event, "survey-invitation", _tokens(session, event.id))
        outbox.enqueue(session, rows)
        result["invited"], result["already"] = len(rows), already
    return result


def enqueue_reminders(rt: Runtime, slug: str, *, now: datetime | None = None) -> dict[str, int]:
    """Put one reminder into the outbox for everyone invited who has not answered yet (once each)."""
    now = now or datetime.now(UTC)
    result = {"reminded": 0, "already": 0, "answered": 0, "closed": 0, "cancelled": 0}
    with rt.store.session(write_lock=True) as session:
        event = find_event(session, slug, lock=True)
        if event.status == "cancelled":
            result["cancelled"] = 1
            return result
        survey = session.scalar(select(Survey).where(Survey.event_id == event.id))
        if survey is None or not is_open(survey, now):
            result["closed"] = 1
            return result
        waiting = _tokens(session, event.id, unanswered=True)
        result["answered"] = (
            session.scalar(select(func.count()).where(SurveyToken.event_id == event.id, SurveyToken.answered.is_(True)))
            or 0
        )
        rows, already = _outbox_rows(session, rt, event, "survey-reminder", waiting)
        outbox.enqueue(session, rows)
        result["reminded"], result["already"] = len(rows), already
    return result


# --- rendering (the survey's emails are a variant of the registration emails, rendered at delivery) --------------


# the survey's emails are a variant of the registration emails, rendered at delivery
def obsolete(
    session: Session, event: Event, registration: Registration, row: OutboxMessage, now: datetime
) -> str | None:
    """Why a survey email put into the outbox earlier should not go out any more, if it should not."""
    if event.status == "cancelled":
        return "not sent: the event was cancelled"
    token = session.get(SurveyToken, (row.params or {}).get("survey_token_id"))
    survey = session.scalar(select(Survey).where(Survey.event_id == event.id))
    if token is None or survey is None:
        return "not sent: the survey link no longer exists"
    if not is_open(survey, now):
        return "not sent: the survey has closed"
    if token.answered:
        return "not sent: the survey has been answered"
    return None


def email_context(session: Session, rt: Runtime, spec: EventSpec, row: OutboxMessage, now: datetime) -> dict[str, Any]:
    """What the survey emails show besides the event: the personal link and until when it is open."""
    token = session.get(SurveyToken, (row.params or {}).get("survey_token_id"))
    survey = session.scalar(select(Survey).where(Survey.event_id == row.event_id))
    assert token is not None and survey is not None  # obsolete() has said so
    return {
        "survey": SimpleNamespace(
            link=survey_url(rt, spec.slug, token),
            closes_at=survey.closes_at.astimezone(spec.start.tzinfo),
            questions=len(survey.definition.get("questions") or []),
        )
    }


emails.register(KINDS, emails.Variant(obsolete=obsolete, context=email_context), owner=__name__)
