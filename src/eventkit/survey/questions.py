"""An event's survey questions (its format's, changed by the spec) and the checking of a response."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from eventkit.core.validation import N_, Problems, ValidationFailed, clean_line, has_control
from eventkit.model.base import add_problems
from eventkit.model.formats import Format
from eventkit.model.spec import EventSpec
from eventkit.model.survey import (
    AUDIENCES,
    Definition,
    Question,
    definition,
)

DEFAULT_AUDIENCE = "attended"
MIN_GROUP = 3  # fewest answers for a per-question breakdown in the evaluation
MAX_TEXT = 300
MAX_TEXTAREA = 4000
DEFAULT_OPEN = timedelta(days=14)  # when format.yaml names no evaluation phase
_TEXTAREA_CONTROL = frozenset("\t\n\r")


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
