"""The minutes of a meeting as an organiser writes them: decisions, and tasks (who, what, until when, done?)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import ValidationInfo
from pydantic_core import PydanticCustomError

from eventkit.core.errors import N_
from eventkit.core.validation import clean_line, has_control
from eventkit.core.yamlfile import YamlText, parse_yaml, read_yaml
from eventkit.model.base import UNSET, Check, Form, Found, each, each_value, given, problem, raw, validated

MAX_TEXT = 2000
MAX_LINE = 300


def _text(value: Any, *, max_len: int, one_line: bool) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if value is None or value is UNSET or (isinstance(value, str) and not value.strip()):
        raise problem(N_("is required"))
    if not isinstance(value, str):
        raise problem(N_("must be a text"))
    if one_line and has_control(value):
        raise problem(N_("must be a single line without control characters"))
    text = clean_line(value) if one_line else value.strip()
    if len(text) > max_len:
        raise problem(N_("is too long (%(length)s characters, at most %(max)s)"), length=len(text), max=max_len)
    return text


def _who(value: Any) -> str:
    return _text(value, max_len=MAX_LINE, one_line=True)


def _what(value: Any) -> str:
    return _text(value, max_len=MAX_TEXT, one_line=False)


def _due(value: Any) -> date | None:
    value = raw(value)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise problem(N_("%(value)r is not a date (expected e.g. 2027-12-31)"), value=value) from None
    if value is not None and not isinstance(value, date):
        raise problem(N_("%(value)r is not a date (expected e.g. 2027-12-31)"), value=value)
    return value


def _done(value: Any) -> bool:
    value = False if value is UNSET else value
    if not isinstance(value, bool):
        raise problem(N_("must be true or false"))
    return value


class Task(Form):
    not_a_mapping = N_("must be a mapping with who, what and optionally due and done")
    must_have = ("who", "what")

    who: Annotated[str, Check(_who, str)] = given(description="Who takes it on")
    what: Annotated[str, Check(_what, str)] = given(description="What is to be done")
    due: Annotated[date | None, Check(_due, date | None)] = given(description="Until when")
    done: Annotated[bool, Check(_done, bool)] = given(description="Done already")

    @classmethod
    def unknown_key(
        cls, key: str, known: Collection[str], data: Mapping[str, Any], info: ValidationInfo
    ) -> PydanticCustomError:
        return problem(N_("unknown key (known: who, what, due, done)"))


def _decisions(value: Any) -> tuple[str, ...]:
    value = raw(value) or []
    if not isinstance(value, list):
        raise problem(N_("must be a list of texts"))
    found = Found()
    decisions = tuple(text for _, text in each_value(_what, value, found))
    found.raise_if_any()
    return decisions


def _tasks(value: Any) -> tuple[Task, ...]:
    value = raw(value) or []
    if not isinstance(value, list):
        raise problem(N_("must be a list of tasks with who, what and optionally due and done"))
    found = Found()
    tasks = tuple(task for _, task in each(Task, value, found))
    found.raise_if_any()
    return tasks


class Minutes(Form):
    """The decisions and tasks of one meeting; the tasks not done are listed in the next meeting's invitation."""

    not_a_mapping = N_("the minutes must be a mapping with decisions and tasks")

    decisions: Annotated[tuple[str, ...], Check(_decisions, list[str])] = given(description="Decisions taken")
    tasks: Annotated[tuple[Task, ...], Check(_tasks, list[Task])] = given(description="Tasks given")

    @classmethod
    def unknown_key(
        cls, key: str, known: Collection[str], data: Mapping[str, Any], info: ValidationInfo
    ) -> PydanticCustomError:
        return problem(N_("unknown key (known: decisions, tasks)"))

    def to_data(self) -> dict[str, Any]:
        return {
            "decisions": list(self.decisions),
            "tasks": [
                {"who": t.who, "what": t.what, "due": t.due.isoformat() if t.due else None, "done": t.done}
                for t in self.tasks
            ],
        }


def minutes_of(doc: YamlText) -> Minutes:
    return validated(Minutes, doc.data or {}, doc.problems())


def parse_minutes(text: str, *, source: str = "<minutes>") -> Minutes:
    return minutes_of(parse_yaml(text, source))


def load_minutes(path: Path) -> Minutes:
    return minutes_of(read_yaml(path))
