"""The base of the organiser models: problems raised by pydantic validators as gettext msgids, read back as Problems.

Every model of something an organiser writes (event spec, recap input, survey, series, minutes, session
grid) is a `Form`: pydantic runs its field checks and collects what they find; a check raises `problem()`
with a gettext msgid and its parameters, or several at once through `Found`; `validated()` turns pydantic's
errors into Problems, which name the file, the line and the field and are translated when shown.

A field is declared as `name: Annotated[T, Check(function, T)] = given()`: the check sees `UNSET` for a key
the organiser left out (so that a left-out key and `null` can differ, as they do in YAML), gets the fields
checked before it in `info.data`, and the JSON Schema shows `T`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, ValidationInfo, model_validator
from pydantic import ModelWrapValidatorHandler as Handler
from pydantic_core import InitErrorDetails, PydanticCustomError

from eventkit.core.errors import N_
from eventkit.core.validation import Problem, Problems, ValidationFailed

KIND = "eventkit"
_MSGID = "_msgid"
_PARAMS = "_params"
_KEPT = "_kept"
Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class _Unset:
    """A key the organiser did not write (None is a key written as `null`)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def given(**kwargs: Any) -> Any:
    """A field whose check always runs, also for a left-out key (it sees UNSET and gives the default)."""
    return Field(default_factory=lambda: UNSET, validate_default=True, **kwargs)


def Check(function: Callable[..., Any], schema: Any) -> PlainValidator:  # noqa: N802 - reads as a type
    """The field's check; `schema` is the type the JSON Schema shows."""
    return PlainValidator(function, json_schema_input_type=schema)


def raw(value: Any) -> Any:
    """The value as `data.get(key)` would give it: None for a left-out key."""
    return None if value is UNSET else value


class _Params:
    """A problem's parameters, kept as Python objects (pydantic would turn them into text it cannot always write);
    `placed`: a Problem already placed in another file (a series' members CSV), reported as it is."""

    def __init__(self, params: dict[str, Any], placed: Problem | None = None):
        self.params = params
        self.placed = placed

    def __repr__(self) -> str:
        return "…"


def problem(message: str, **params: Any) -> PydanticCustomError:
    """One problem to raise from a check: a gettext msgid with %(name)s parameters."""
    try:  # pydantic's own text of it (in tracebacks): the English message
        text = message % params if params else message
        text.encode("utf-8")
    except (KeyError, TypeError, ValueError):
        text = message
    return PydanticCustomError(KIND, text, {_MSGID: message, _PARAMS: _Params(params)})


def located(placed: Problem) -> PydanticCustomError:
    """A problem found in another file, with its own file, line and field, to raise from a check."""
    return PydanticCustomError(KIND, placed.message, {_MSGID: placed.message, _PARAMS: _Params({}, placed)})


def _retyped(error: Mapping[str, Any]) -> PydanticCustomError:
    if error["type"] == KIND:
        return PydanticCustomError(KIND, str(error["msg"]), dict(error["ctx"]))
    message, params = _message(error)
    return problem(message, **params)


def _message(error: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if error["type"] == KIND:
        context = error["ctx"]
        return str(context[_MSGID]), dict(context[_PARAMS].params)
    if error["type"] == "missing":
        return N_("is required"), {}
    return str(error["msg"]), {}  # pydantic's own check (a type of eventkit's own making): English only


def _key(part: Any) -> str | int:
    return part if isinstance(part, int) and not isinstance(part, bool) else str(part)


class Found:
    """The problems one check finds, each at its place below the field, raised together."""

    def __init__(self) -> None:
        self.errors: list[InitErrorDetails] = []

    def add(self, loc: Iterable[Any] | str | int, message: str, **params: Any) -> None:
        where = (loc,) if isinstance(loc, str | int) else tuple(loc)
        self.errors.append(
            InitErrorDetails(type=problem(message, **params), loc=tuple(_key(p) for p in where), input=None)
        )

    def add_problem(self, loc: Iterable[Any], error: PydanticCustomError) -> None:
        self.errors.append(InitErrorDetails(type=error, loc=tuple(_key(p) for p in loc), input=None))

    def take(self, exc: ValidationError, prefix: Iterable[Any] = ()) -> None:
        """Every problem of a ValidationError, placed below `prefix`."""
        for error in exc.errors(include_url=False):
            self.add_problem((*prefix, *error["loc"]), _retyped(error))

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationError.from_exception_data(KIND, self.errors)


def each(model: type[M], items: Iterable[Any], found: Found, context: Any = None) -> list[tuple[int, M]]:
    """Each item checked by `model` on its own: the good ones (with their index), the others' problems in `found`."""
    good = []
    for i, item in enumerate(items):
        try:
            good.append((i, model.model_validate(item, context=context)))
        except ValidationError as exc:
            found.take(exc, (i,))
    return good


def each_value(check: Callable[[Any], T], items: Iterable[Any], found: Found) -> list[tuple[int, T]]:
    """Each item checked by `check` (which raises problem()): the good ones with their index, the others in `found`."""
    good = []
    for i, item in enumerate(items):
        try:
            good.append((i, check(item)))
        except PydanticCustomError as exc:
            found.add_problem((i,), exc)
    return good


def keep(info: ValidationInfo, error: PydanticCustomError) -> None:
    """Name a problem of this field, yet give its value to the checks after it (an end before the start is
    still the end that the programme is checked against). Only for the fields of a model validated with a
    context; without one, the problem is raised."""
    if not isinstance(info.context, dict):
        raise error
    owner = (info.config or {}).get("title")
    info.context.setdefault(_KEPT, []).append((owner, info.field_name, error))


def add_problems(exc: ValidationError, problems: Problems) -> None:
    """pydantic's errors as Problems: each names its field (and through `problems`, the file and the line)."""
    for error in exc.errors(include_url=False):
        placed = error["ctx"][_PARAMS].placed if error["type"] == KIND else None
        if placed is not None:
            problems.items.append(placed)
            continue
        message, params = _message(error)
        problems.add(tuple(error["loc"]) or None, message, **params)


def report(problems: Problems, loc: Iterable[Any], error: PydanticCustomError | ValidationError) -> None:
    """A check's problem (or a model's problems) added to `problems` at `loc`."""
    found = Found()
    if isinstance(error, ValidationError):
        found.take(error, loc)
    else:
        found.add_problem(loc, error)
    add_problems(ValidationError.from_exception_data(KIND, found.errors), problems)


def failure(exc: ValidationError, source: str | None = None) -> ValidationFailed:
    """pydantic's errors of an organiser model (checked outside eventkit, e.g. by Prefect) as ValidationFailed."""
    problems = Problems(source)
    add_problems(exc, problems)
    return ValidationFailed(problems.items)


def validated(model: type[M], data: Any, problems: Problems, **context: Any) -> M:
    """`data` checked by `model`; ValidationFailed with every problem, after those `problems` holds already."""
    try:
        value = model.model_validate(data, context=context)
    except ValidationError as exc:
        add_problems(exc, problems)
        raise ValidationFailed(problems.items) from None
    problems.raise_if_any()
    return value


def context_of(info: ValidationInfo) -> dict[str, Any]:
    return info.context if isinstance(info.context, dict) else {}


def suggest(key: str, known: Collection[str]) -> str | None:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    return close[0] if close else None


def _required(schema: dict[str, Any], cls: type[Any]) -> None:
    names = getattr(cls, "must_have", ())
    if names:
        schema["required"] = list(names)


class Form(BaseModel):
    """A mapping an organiser writes: its unknown keys are named, and anything but a mapping is one problem
    (or, where the model says so, a plain text that stands for its first field)."""

    model_config = ConfigDict(frozen=True, extra="ignore", arbitrary_types_allowed=True, json_schema_extra=_required)

    # the message for anything that is not a mapping, and the field a plain text (or number) stands for
    not_a_mapping: ClassVar[str] = N_("must be a mapping")
    text_is: ClassVar[str | None] = None
    # fields whose problems are named before the unknown keys
    first: ClassVar[tuple[str, ...]] = ()
    # fields the JSON Schema marks as required (their checks name a missing one)
    must_have: ClassVar[tuple[str, ...]] = ()
    # fields that hold a part of the mapping itself (see arranged()): their problems are named at the top
    flattened: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def arranged(cls, data: Mapping[str, Any]) -> Mapping[str, Any]:
        """The mapping as the fields take it (a model whose field holds a part of the mapping regroups it)."""
        return data

    @classmethod
    def known_keys(cls, data: Mapping[str, Any], info: ValidationInfo) -> Collection[str] | None:
        """The keys this mapping may have (None: any)."""
        return tuple(cls.model_fields)

    @classmethod
    def unknown_key(
        cls, key: str, known: Collection[str], data: Mapping[str, Any], info: ValidationInfo
    ) -> PydanticCustomError:
        return problem(N_("unknown key (known: %(keys)s)"), keys=", ".join(known))

    @classmethod
    def mapping_problem(cls, value: Any) -> PydanticCustomError:
        return problem(cls.not_a_mapping)

    @classmethod
    def across(cls, data: Mapping[str, Any], info: ValidationInfo) -> Iterable[tuple[str, Loc, PydanticCustomError]]:
        """Problems that concern several keys, each with the field after whose problems it is named."""
        return ()

    @model_validator(mode="wrap")
    @classmethod
    def _mapping(cls, data: Any, handler: Handler[Any], info: ValidationInfo) -> Any:
        if isinstance(data, cls):
            return data
        if cls.text_is is not None and isinstance(data, str | int | float) and not isinstance(data, bool):
            data = {cls.text_is: data}
        if not isinstance(data, Mapping):
            raise cls.mapping_problem(data)
        written, data = data, cls.arranged(data)
        known = cls.known_keys(data, info)
        unknown = [k for k in data if known is not None and k not in known]
        order = {name: float(n) for n, name in enumerate((*cls.first, "", *cls.model_fields))}
        found: list[tuple[float, InitErrorDetails]] = []
        for k in unknown:
            error = cls.unknown_key(str(k), known or (), data, info)
            found.append((order[""], InitErrorDetails(type=error, loc=(str(k),), input=None)))
        value = None
        try:
            value = handler({k: v for k, v in data.items() if isinstance(k, str) and k not in unknown})
        except ValidationError as exc:
            later = Found()
            later.take(exc)
            for e in later.errors:
                field = str(e["loc"][0]) if e["loc"] else None
                if field in cls.flattened:
                    e["loc"] = e["loc"][1:]
                found.append((order.get(field, len(order)) if field is not None else -1.0, e))
        if isinstance(info.context, dict):
            kept = info.context.get(_KEPT, [])
            for entry in [e for e in kept if e[0] == cls.__name__]:
                kept.remove(entry)
                found.append((order[entry[1]], InitErrorDetails(type=entry[2], loc=(entry[1],), input=None)))
        for after, loc, error in cls.across(written, info):
            found.append((order.get(after, len(order)) + 0.5, InitErrorDetails(type=error, loc=loc, input=None)))
        if found:
            found.sort(key=lambda pair: pair[0])
            raise ValidationError.from_exception_data(KIND, [e for _, e in found])
        return value


class Suggesting(Form):
    """A form whose unknown keys get the nearest known key as a suggestion."""

    @classmethod
    def unknown_key(
        cls, key: str, known: Collection[str], data: Mapping[str, Any], info: ValidationInfo
    ) -> PydanticCustomError:
        close = suggest(key, known)
        if close:
            return problem(N_("unknown key; did you mean %(suggestion)r?"), suggestion=close)
        return cls.nothing_close(key, known, data)

    @classmethod
    def nothing_close(cls, key: str, known: Collection[str], data: Mapping[str, Any]) -> PydanticCustomError:
        """The problem for an unknown key that is like no known one."""
        return problem(N_("unknown key (known: %(choices)s)"), choices=", ".join(known))
