"""The survey behind a personal link: one anonymous response per link, closing, the responses collected."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from eventkit.core.errors import UserError
from eventkit.core.tokens import signed_token, token_subject, verify_signed
from eventkit.core.validation import N_
from eventkit.db.store import Event, Person, Registration, Survey, SurveyResponse, SurveyToken
from eventkit.events.events import find_event
from eventkit.model.survey import (
    Definition,
)
from eventkit.runtime import Runtime
from eventkit.survey.questions import parse_answers

# Who answered and what was answered are kept apart: a survey link belongs to a row of `survey_tokens`
# (registration, nonce, answered yes or no) and a response is a row of `survey_responses` (event, answers,
# day) with a random id and no reference to a person, a token or a time of day. One response per link is
# enforced by the database: the token is marked answered by a conditional UPDATE in the response's own
# transaction, so that of two submissions at once only one finds it unanswered.


class InvalidSurveyLink(LookupError, UserError):
    """A survey link that matches no survey invitation (mistyped, altered, or made for another purpose)."""

    message = N_(
        "This survey link is not valid. Please use the link from your most recent email about the survey, "
        "exactly as it is written there."
    )
    status = 404


class _LinkState(UserError):
    def __init__(self, slug: str, language: str | None = None):
        Exception.__init__(self, slug)  # the slug, as it always was; the message is the class's
        self.language = language  # the person's, for the page that says so


class SurveyClosed(_LinkState):
    """The survey has ended (its closing date passed, or the organiser closed it)."""

    message = N_("This survey has ended, so no more answers can be given. Thank you for your interest!")
    status = 410


class AlreadyAnswered(_LinkState):
    """This link has been used to answer the survey already."""

    message = N_("This survey has already been answered with this link. Each link can be used once. Thank you!")
    status = 409


@dataclass(frozen=True)
class SurveyView:
    """What a survey link shows: the questions, in the person's language, until when it is open."""

    definition: Definition
    language: str
    closes_at: datetime


def link_token(rt: Runtime, row: SurveyToken) -> str:
    return signed_token(rt.settings.secret_key, "survey", row.id, row.nonce)


def survey_url(rt: Runtime, slug: str, row: SurveyToken) -> str:
    return f"{rt.settings.base_url}/e/{slug}/survey?t={link_token(rt, row)}"


def _by_token(session: Session, rt: Runtime, slug: str, token: str) -> tuple[Event, SurveyToken, Survey]:
    event = find_event(session, slug)
    subject = token_subject(token) if isinstance(token, str) and len(token) <= 200 else None
    row = session.get(SurveyToken, subject) if subject is not None else None
    if (
        row is None
        or row.event_id != event.id
        or not verify_signed(rt.settings.secret_key, "survey", token, row.id, row.nonce)
    ):
        raise InvalidSurveyLink(slug)
    survey = session.scalar(select(Survey).where(Survey.event_id == event.id))
    if survey is None:
        raise InvalidSurveyLink(slug)
    return event, row, survey


def is_open(survey: Survey, now: datetime) -> bool:
    return survey.closed_at is None and now < survey.closes_at


def peek(rt: Runtime, slug: str, token: str, *, now: datetime | None = None) -> SurveyView:
    """The survey behind a link (read only); InvalidSurveyLink, SurveyClosed or AlreadyAnswered otherwise."""
    now = now or datetime.now(UTC)
    with rt.store.session() as session:
        event, row, survey = _by_token(session, rt, slug, token)
        language = (
            session.scalar(
                select(Person.language)
                .join(Registration, Registration.person_id == Person.id)
                .where(Registration.id == row.registration_id)
            )
            or event.language
        )
        if not is_open(survey, now):
            raise SurveyClosed(slug, language)
        if row.answered:
            raise AlreadyAnswered(slug, language)
        return SurveyView(Definition.from_data(survey.definition), language, survey.closes_at)


def submit(rt: Runtime, slug: str, token: str, data: Mapping[str, Any], *, now: datetime | None = None) -> None:
    """Store one response for a link: checked, then written with the link marked answered, or nothing.

    Raises InvalidSurveyLink, SurveyClosed, AlreadyAnswered, or ValidationFailed for the answers.
    """
    now = now or datetime.now(UTC)
    with rt.store.session(write_lock=True) as session:
        event, row, survey = _by_token(session, rt, slug, token)
        if not is_open(survey, now):
            raise SurveyClosed(slug)
        if row.answered:
            raise AlreadyAnswered(slug)
        answers = parse_answers(Definition.from_data(survey.definition), data)
        # the database decides between two submissions at once: only one finds the link unanswered
        claimed = session.scalar(
            update(SurveyToken)
            .where(SurveyToken.id == row.id, SurveyToken.answered.is_(False))
            .values(answered=True)
            .returning(SurveyToken.id)
            .execution_options(synchronize_session=False)
        )
        if claimed is None:
            raise AlreadyAnswered(slug)
        session.add(
            SurveyResponse(
                id=secrets.token_hex(16),
                event_id=event.id,
                answers=answers,
                # the day only: a time of day could be matched with the moment a person was seen answering
                submitted_on=now.astimezone(ZoneInfo(event.timezone)).date(),
            )
        )


def close_survey(rt: Runtime, slug: str, *, now: datetime | None = None) -> bool:
    """Close an event's survey (the organiser's choice, or the evaluation); False if there is none or it
    was closed already. Past its closing date it is marked closed too, so that it stays closed."""
    now = now or datetime.now(UTC)
    with rt.store.session(write_lock=True) as session:
        event = find_event(session, slug, lock=True)
        survey = session.scalar(select(Survey).where(Survey.event_id == event.id))
        if survey is None or survey.closed_at is not None:
            return False
        survey.closed_at = min(now, survey.closes_at)
        return True


@dataclass(frozen=True)
class Collected:
    """An event's survey as the evaluation reads it: questions, how many were asked, the responses."""

    slug: str
    definition: Definition
    audience: str
    invited: int
    responses: list[dict[str, Any]]
    submitted_on: list[date]
    closes_at: datetime
    closed: bool


def collect(rt: Runtime, slug: str, *, now: datetime | None = None) -> Collected | None:
    """The survey's responses (in an order that says nothing about who answered when); None: no survey."""
    now = now or datetime.now(UTC)
    with rt.store.session() as session:
        event = find_event(session, slug)
        survey = session.scalar(select(Survey).where(Survey.event_id == event.id))
        if survey is None:
            return None
        invited = session.scalar(select(func.count()).where(SurveyToken.event_id == event.id)) or 0
        rows = session.execute(
            select(SurveyResponse.answers, SurveyResponse.submitted_on)
            .where(SurveyResponse.event_id == event.id)
            .order_by(SurveyResponse.submitted_on, SurveyResponse.id)
        ).all()
        return Collected(
            slug,
            Definition.from_data(survey.definition),
            survey.audience,
            invited,
            [dict(r.answers) for r in rows],
            [r.submitted_on for r in rows],
            survey.closes_at,
            not is_open(survey, now),
        )
