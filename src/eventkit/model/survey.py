"""The follow-up survey's questions: a format's survey.yaml, changed per event by the spec's `survey:` key."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo
from pydantic_core import PydanticCustomError

from eventkit.core.errors import N_
from eventkit.core.i18n import LANGUAGES
from eventkit.core.validation import has_control
from eventkit.model.base import UNSET, Check, Found, Suggesting, given, problem, raw
from eventkit.model.formats import Text

TYPES = ("scale", "choice", "multichoice", "text", "textarea")
AUDIENCES = ("attended", "registered")
MAX_LABEL = 500
MAX_QUESTIONS = 40
MAX_OPTIONS = 20
SCALE_LIMITS = (0, 10)
KEYS = ("name", "type", "label", "help", "required", "options", "min", "max", "min_label", "max_label")
SCALE_KEYS = ("min", "max", "min_label", "max_label")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
Options = tuple[tuple[str, Text], ...]
LanguageText = str | dict[str, str]


def text_of(value: Any, *, required: bool) -> Text | None:
    """A label or help: one text (German), or a mapping of language to text."""
    if isinstance(value, Text):
        return value
    if value is None or value is UNSET or (isinstance(value, str) and not value.strip()):
        if required:
            raise problem(N_("is required"))
        return None
    if isinstance(value, str):
        values = {"de": value}
    elif isinstance(value, dict) and value and all(isinstance(v, str) and v.strip() for v in value.values()):
        unknown = [str(k) for k in value if k not in LANGUAGES]
        if unknown:
            raise problem(N_("unknown language %(value)s (use de or en)"), value=", ".join(unknown))
        values = {str(k): str(v) for k, v in value.items()}
    else:
        raise problem(N_("must be a text, or a mapping of language to text (de, en)"))
    for text in values.values():
        if len(text) > MAX_LABEL:
            raise problem(N_("is too long (%(length)s characters, at most %(max)s)"), length=len(text), max=MAX_LABEL)
    return Text({k: " ".join(v.split()) for k, v in values.items()})


def _name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise problem(N_("use lower-case letters, digits and _, starting with a letter (at most 40)"))
    return value


def _type(value: Any) -> str:
    if value not in TYPES:
        raise problem(N_("must be one of %(choices)s"), choices=", ".join(TYPES))
    return str(value)


def _label(value: Any) -> Text:
    label = text_of(value, required=True)
    assert label is not None
    return label


def _optional_text(value: Any) -> Text | None:
    return text_of(value, required=False)


def _required(value: Any) -> bool:
    value = False if value is UNSET else value
    if not isinstance(value, bool):
        raise problem(N_("must be true or false"))
    return value


def _options_of(value: Any) -> Options:
    if isinstance(value, tuple):
        return value
    if not isinstance(value, list) or len(value) < 2:
        raise problem(N_("needs a list of at least two options"))
    if len(value) > MAX_OPTIONS:
        raise problem(N_("has more than %(max)s options"), max=MAX_OPTIONS)
    found, out = Found(), list[tuple[str, Text]]()
    for j, option in enumerate(value):
        if isinstance(option, str | int) and not isinstance(option, bool):
            option = {"value": str(option), "label": str(option)}
        if not isinstance(option, dict) or not isinstance(option.get("value"), str | int):
            found.add((j,), N_("must be a mapping with value and label"))
            continue
        name = str(option["value"]).strip()
        if not name or len(name) > 50 or has_control(name):
            found.add((j, "value"), N_("must be a short text of one line"))
            continue
        if name in {v for v, _ in out}:
            found.add((j, "value"), N_("%(value)r appears twice"), value=name)
            continue
        try:
            out.append((name, _label(option.get("label", name))))
        except PydanticCustomError as exc:
            found.add_problem((j, "label"), exc)
    found.raise_if_any()
    return tuple(out)


def _options(value: Any, info: ValidationInfo) -> Options:
    if info.data.get("type") in ("choice", "multichoice"):
        return _options_of(raw(value))
    if value is not UNSET:
        raise problem(N_("only choice and multichoice questions have options"))
    return ()


def _scale_only(value: Any, info: ValidationInfo) -> bool:
    """Whether the question is a scale; a scale's key given to another question is a problem."""
    if info.data.get("type") == "scale":
        return True
    if value is not UNSET:
        raise problem(N_("only scale questions have min, max, min_label and max_label"))
    return False


def _whole(value: Any, default: int) -> int:
    if value is None or value is UNSET:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise problem(N_("must be a whole number"))
    return value


def _min(value: Any, info: ValidationInfo) -> int:
    return _whole(value, 1) if _scale_only(value, info) else 1


def _max(value: Any, info: ValidationInfo) -> int:
    if not _scale_only(value, info):
        return 5
    high = _whole(value, 5)
    low = info.data.get("min")
    if low is not None and not SCALE_LIMITS[0] <= low < high <= SCALE_LIMITS[1]:
        raise problem(
            N_("a scale runs from min to a larger max, within %(low)s to %(high)s"),
            low=SCALE_LIMITS[0],
            high=SCALE_LIMITS[1],
        )
    return high


def _scale_label(value: Any, info: ValidationInfo) -> Text | None:
    return text_of(value, required=False) if _scale_only(value, info) else None


class Question(Suggesting):
    """One question of a survey."""

    not_a_mapping = N_("must be a mapping with name, type and label")
    must_have = ("name", "type", "label")

    name: Annotated[str, Check(_name, str)] = given(description="letters, digits and _")
    type: Annotated[str, Check(_type, str)] = given(description=" / ".join(TYPES))
    label: Annotated[Text, Check(_label, LanguageText)] = given()
    help: Annotated[Text | None, Check(_optional_text, LanguageText | None)] = given()
    required: Annotated[bool, Check(_required, bool)] = given()
    options: Annotated[Options, Check(_options, list[str | dict[str, Any]])] = given()
    min: Annotated[int, Check(_min, int)] = given()
    max: Annotated[int, Check(_max, int)] = given()
    min_label: Annotated[Text | None, Check(_scale_label, LanguageText | None)] = given()
    max_label: Annotated[Text | None, Check(_scale_label, LanguageText | None)] = given()

    @property
    def values(self) -> tuple[str, ...]:
        """The answers a scale or a choice allows, as the form sends them."""
        if self.type == "scale":
            return tuple(str(n) for n in range(self.min, self.max + 1))
        return tuple(v for v, _ in self.options)

    def option_label(self, value: object, language: str) -> str:
        for v, text in self.options:
            if v == value:
                return text.get(language)
        return str(value)

    def to_data(self) -> dict[str, Any]:
        def text(t: Text | None) -> dict[str, str] | None:
            return dict(t.values) if t is not None else None

        return {
            "name": self.name,
            "type": self.type,
            "label": text(self.label),
            "required": self.required,
            "help": text(self.help),
            "options": [{"value": v, "label": text(t)} for v, t in self.options],
            "min": self.min,
            "max": self.max,
            "min_label": text(self.min_label),
            "max_label": text(self.max_label),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Question:
        """A question as it was stored (checked when it was written)."""

        def text(value: Any) -> Text | None:
            return Text(dict(value)) if value else None

        return cls.model_construct(
            name=data["name"],
            type=data["type"],
            label=Text(dict(data["label"])),
            required=bool(data.get("required")),
            help=text(data.get("help")),
            options=tuple((o["value"], Text(dict(o["label"]))) for o in data.get("options") or []),
            min=int(data.get("min", 1)),
            max=int(data.get("max", 5)),
            min_label=text(data.get("min_label")),
            max_label=text(data.get("max_label")),
        )


class Definition(BaseModel):
    """The questions of one survey, in order."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    questions: tuple[Question, ...]

    def get(self, name: str) -> Question | None:
        return next((q for q in self.questions if q.name == name), None)

    def to_data(self) -> dict[str, Any]:
        return {"questions": [q.to_data() for q in self.questions]}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Definition:
        return cls(questions=tuple(Question.from_data(q) for q in data.get("questions") or []))


def _merge(
    base: Sequence[object], changes: object, found: Found, path: tuple[Any, ...]
) -> list[tuple[Any, tuple[Any, ...]]]:
    """The format's questions with an event's changes: a change with a known name replaces the keys it
    gives, `omit: true` leaves the question out, a new name adds a question at the end. Each question
    comes with the place to name in its problems."""
    merged: dict[str, tuple[Any, tuple[Any, ...]]] = {}
    for i, question in enumerate(base):
        name = question.get("name") if isinstance(question, dict) else None
        key = name if isinstance(name, str) else f"#{i}"
        if key in merged:
            found.add(("questions", i, "name"), N_("%(value)r appears twice"), value=key)
            continue
        merged[key] = (dict(question) if isinstance(question, dict) else {"_invalid": question}, ("questions", i))
    if changes is None:
        return list(merged.values())
    if not isinstance(changes, list):
        found.add(path, N_("must be a list of questions (name, and what to change or add)"))
        return list(merged.values())
    for i, change in enumerate(changes):
        where = (*path, i)
        if not isinstance(change, dict) or not isinstance(change.get("name"), str):
            found.add(where, N_("must be a mapping with at least the name of a question"))
            continue
        name = change["name"]
        omit = change.get("omit", False)
        if not isinstance(omit, bool):
            found.add((*where, "omit"), N_("must be true or false"))
            continue
        if omit:
            if name not in merged:
                found.add((*where, "name"), N_("there is no question %(value)r to leave out"), value=name)
            merged.pop(name, None)
            continue
        own = {k: v for k, v in change.items() if k != "omit"}
        merged[name] = ({**merged[name][0], **own}, where) if name in merged else (own, where)
    return list(merged.values())


def definition(base: Sequence[object], changes: object = None, path: tuple[Any, ...] = ("survey",)) -> Definition:
    """A format's questions with an event's changes (`survey:` of its spec), every question checked;
    ValidationError names each problem by the question's place (in the spec's `path`, or in the format's
    `questions`)."""
    found = Found()
    merged = _merge(base, changes, found, path)
    if len(merged) > MAX_QUESTIONS:
        found.add(path, N_("has more than %(max)s questions"), max=MAX_QUESTIONS)
    if not merged:
        found.add(path, N_("leaves the survey without questions"))
    questions = []
    for question, where in merged:
        try:
            questions.append(Question.model_validate(question.get("_invalid", question)))
        except ValidationError as exc:
            found.take(exc, where)
    found.raise_if_any()
    return Definition(questions=tuple(questions))


def survey_changes(value: Any, base: Sequence[object]) -> Any:
    """The spec's `survey:` key, checked against the format's questions; problems placed below the key."""
    if value is UNSET:
        return value
    try:
        definition(base, value, ())
    except ValidationError as exc:
        found = Found()
        found.take(exc)
        found.raise_if_any()
    return value


def audience(value: Any) -> Any:
    if raw(value) is not None and value not in AUDIENCES:
        raise problem(N_("must be one of %(choices)s"), choices=", ".join(AUDIENCES))
    return value


def min_group(value: Any) -> Any:
    group = raw(value)
    if group is not None and (isinstance(group, bool) or not isinstance(group, int) or not 1 <= group <= 100):
        raise problem(N_("must be a whole number from %(min)s to %(max)s"), min=1, max=100)
    return value
