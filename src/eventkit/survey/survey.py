"""The follow-up survey: its questions per format and event, one anonymous response per link, its emails.

Who answered and what was answered are kept apart: a survey link belongs to a row of `survey_tokens`
(registration, nonce, answered yes or no) and a response is a row of `survey_responses` (event, answers,
day) with a random id and no reference to a person, a token or a time of day. One response per link is
enforced by the database: the token is marked answered by a conditional UPDATE in the response's own
transaction, so that of two submissions at once only one finds it unanswered.
"""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from random import Random
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from eventkit.core.errors import UserError
from eventkit.core.tokens import new_nonce, signed_token, token_subject, verify_signed
from eventkit.core.validation import N_, Problems, ValidationFailed, clean_line, has_control
from eventkit.db.store import Event, OutboxMessage, Person, Registration, Survey, SurveyResponse, SurveyToken
from eventkit.events.events import find_event, format_for
from eventkit.mail import outbox
from eventkit.mail.compose import message_id
from eventkit.mail.mime import ascii_address
from eventkit.model.base import add_problems
from eventkit.model.formats import Format
from eventkit.model.spec import EventSpec
from eventkit.model.survey import (
    AUDIENCES,
    Definition,
    Question,
    definition,
)
from eventkit.registration import emails
from eventkit.runtime import Runtime

KINDS = ("survey-invitation", "survey-reminder")
DEFAULT_AUDIENCE = "attended"
MIN_GROUP = 3  # fewest answers for a per-question breakdown in the evaluation
MAX_TEXT = 300
MAX_TEXTAREA = 4000
DEFAULT_OPEN = timedelta(days=14)  # when format.yaml names no evaluation phase
_TEXTAREA_CONTROL = frozenset("\t\n\r")


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


# --- definitions -----------------------------------------------------------------------------------------


def definition_for(fmt: Format, extra: Mapping[str, Any]) -> Definition:
    """The survey of an event: its format's questions with the changes of the spec's `survey:` key."""
    try:
        return definition(list(fmt.survey), extra.get("survey"))
    except ValidationError as exc:
        problems = Problems(source=f"{fmt.name}/survey.yaml")
        add_problems(exc, problems)
        raise ValidationFailed(problems.items) from None


def audience_of(spec: EventSpec) -> str:
    audience = spec.extra.get("survey_audience")
    return audience if audience in AUDIENCES else DEFAULT_AUDIENCE


def min_group_of(spec: EventSpec) -> int:
    group = spec.extra.get("survey_min_group")
    return group if isinstance(group, int) and not isinstance(group, bool) and group >= 1 else MIN_GROUP


def closes_at(spec: EventSpec, fmt: Format) -> datetime:
    """The survey is open until the evaluation (format.yaml's phases.evaluation after the end)."""
    return (spec.end + fmt.phases.get("evaluation", DEFAULT_OPEN)).astimezone(UTC)


# --- answers ---------------------------------------------------------------------------------------------


def _one(raw: object) -> object:
    """A single answer as a form sends it: a key given twice is no single answer."""
    if isinstance(raw, list):
        return raw[0] if len(raw) == 1 else raw
    return raw


def _free_text(problems: Problems, q: Question, raw: object) -> str | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if q.required:
            problems.add(q.name, N_("is required"))
        return None
    if not isinstance(raw, str):
        problems.add(q.name, N_("must be a text"))
        return None
    if q.type == "text":
        if has_control(raw):
            problems.add(q.name, N_("contains a line break or control character"))
            return None
        value, limit = clean_line(raw), MAX_TEXT
    else:
        if any(has_control(c) and c not in _TEXTAREA_CONTROL for c in raw):
            problems.add(q.name, N_("contains a control character"))
            return None
        value = unicodedata.normalize("NFC", raw.replace("\r\n", "\n").replace("\r", "\n")).strip()
        limit = MAX_TEXTAREA
    if len(value) > limit:
        problems.add(q.name, N_("is too long (%(length)s characters, at most %(max)s)"), length=len(value), max=limit)
        return None
    return value


def parse_answers(definition: Definition, data: Mapping[str, Any]) -> dict[str, Any]:
    """Check a response; raises ValidationFailed naming every question with a problem.

    `data` maps a question's name to what a form sends (a string, or a list of strings for several
    choices); integers for a scale are taken too. The result has every question: a scale as an int,
    a choice as its value, several choices as a list in the question's order, a text as a string, and
    None (an empty list for several choices) where nothing was answered.
    """
    problems = Problems()
    answers: dict[str, Any] = {}
    for q in definition.questions:
        raw = data.get(q.name)
        choices = ", ".join(q.values)
        if q.type == "multichoice":
            items = raw if isinstance(raw, list) else ([] if raw in (None, "") else [raw])
            if not all(isinstance(i, str) and i in q.values for i in items):
                problems.add(q.name, N_("must be a list of %(choices)s"), choices=choices)
            elif q.required and not items:
                problems.add(q.name, N_("is required"))
            else:
                answers[q.name] = [v for v in q.values if v in items]
            continue
        value = _one(raw)
        if q.type in ("text", "textarea"):
            answers[q.name] = _free_text(problems, q, value)
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if value is None or value == "":
            if q.required:
                problems.add(q.name, N_("is required"))
            answers[q.name] = None
        elif not isinstance(value, str) or value not in q.values:
            if q.type == "scale":
                problems.add(q.name, N_("must be a whole number from %(min)s to %(max)s"), min=q.min, max=q.max)
            else:
                problems.add(q.name, N_("must be one of %(choices)s"), choices=choices)
        else:
            answers[q.name] = int(value) if q.type == "scale" else value
    problems.raise_if_any()
    return answers


# --- links and responses ---------------------------------------------------------------------------------


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


# --- invitations and reminders ---------------------------------------------------------------------------


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


# --- simulated answers (eventkit demo) -------------------------------------------------------------------

_SAMPLE_TEXTS = {
    "de": [
        "Der Austausch mit den anderen Initiativen aus dem Landkreis.",
        "Die Arbeitsgruppen waren gut moderiert, wir haben konkrete Verabredungen getroffen.",
        "Mehr Zeit für die Pausen und das Gespräch am Rand.",
        "Neue Kontakte für unsere Jugendarbeit – danke!",
        "Die Unterlagen vorher per E-Mail schicken, dann kann man sich besser vorbereiten.",
        "Dolmetschen ins Arabische hat sehr geholfen.",
        "Ein ruhigerer Raum für die Kleingruppen wäre schön.",
    ],
    "en": [
        "Meeting the other associations and hearing about their projects.",
        "More time for questions after the presentations.",
        "The step-free access and the interpreting worked very well.",
    ],
}


def simulated_form(definition: Definition, rng: Random, language: str = "de") -> dict[str, Any]:
    """A plausible response as a browser would send it (strings, several values for several choices)."""
    data: dict[str, Any] = {}
    texts = _SAMPLE_TEXTS.get(language, _SAMPLE_TEXTS["de"])
    for q in definition.questions:
        if not q.required and rng.random() < 0.3:
            continue
        if q.type == "scale":
            # answers lean towards the upper half, as they do after a good meeting
            span = list(range(q.min, q.max + 1))
            weights = [1 + 2 * i for i in range(len(span))]
            data[q.name] = str(rng.choices(span, weights)[0])
        elif q.type == "choice":
            data[q.name] = rng.choices(list(q.values), [len(q.values) - i for i in range(len(q.values))])[0]
        elif q.type == "multichoice":
            data[q.name] = [v for v in q.values if rng.random() < 0.4] or [q.values[0]]
        else:
            data[q.name] = rng.choice(texts)
    return data


def simulate_responses(rt: Runtime, slug: str, rng: Random, *, share: float = 0.75) -> int:
    """Answer an open survey for about `share` of its invitations, each through the same checks and
    storage as the web form (submit); returns how many responses were stored."""
    with rt.store.session() as session:
        event = find_event(session, slug)
        survey = session.scalar(select(Survey).where(Survey.event_id == event.id))
        if survey is None:
            return 0
        definition = Definition.from_data(survey.definition)
        rows = session.execute(
            select(SurveyToken, Person.language)
            .join(Registration, Registration.id == SurveyToken.registration_id)
            .join(Person, Person.id == Registration.person_id)
            .where(SurveyToken.event_id == event.id, SurveyToken.answered.is_(False))
            .order_by(SurveyToken.id)
        ).all()
        links = [(link_token(rt, token), language) for token, language in rows]
    stored = 0
    for token, language in links:
        if rng.random() >= share:
            continue
        try:
            submit(rt, slug, token, simulated_form(definition, rng, language))
        except (AlreadyAnswered, SurveyClosed, ValidationFailed):
            continue
        stored += 1
    return stored
