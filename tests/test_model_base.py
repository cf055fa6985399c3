"""The organiser models' base: checks raise gettext msgids, pydantic collects them, Problems name file, line, field."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import ValidationError, ValidationInfo

from eventkit.core.errors import N_
from eventkit.core.validation import Problem, Problems, ValidationFailed
from eventkit.core.yamlfile import parse_yaml
from eventkit.model.base import UNSET, Check, Form, Found, given, keep, problem, validated


def _count(value: Any) -> int:
    if value is UNSET:
        return 1
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise problem(N_("must be a whole number of at least %(min)s"), min=1)
    return value


def _names(value: Any, info: ValidationInfo) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise problem(N_("must be a list"))
    found = Found()
    for i, name in enumerate(value):
        if not isinstance(name, str):
            found.add((i,), N_("must be a text"))
    found.raise_if_any()
    if len(value) > info.data.get("count", 1):
        keep(info, problem(N_("has too many entries (%(length)s, at most %(max)s)"), length=len(value), max=1))
    return tuple(value)


class Toy(Form):
    not_a_mapping = N_("must be a mapping")

    count: Annotated[int, Check(_count, int)] = given()
    names: Annotated[tuple[str, ...], Check(_names, list[str])] = given()


def problems_of(text: str) -> list[tuple[str | None, int | None, str]]:
    doc = parse_yaml(text, "toy.yaml")
    with pytest.raises(ValidationFailed) as info:
        validated(Toy, doc.data, doc.problems())
    return [(p.field, p.line, Problem(p.message, p.params).render("en")) for p in info.value.problems]


def test_every_problem_is_named_by_field_and_line_unknown_keys_first() -> None:
    assert problems_of("count: 0\nnames: [a, 5]\ncolour: red\n") == [
        ("colour", 3, "unknown key (known: count, names)"),
        ("count", 1, "must be a whole number of at least 1"),
        ("names[1]", 2, "must be a text"),
    ]


def test_a_kept_problem_is_named_and_a_left_out_key_is_not_null() -> None:
    assert problems_of("names: [a, b]\n") == [("names", 1, "has too many entries (2, at most 1)")]
    assert problems_of("count: null\nnames: []\n") == [("count", 1, "must be a whole number of at least 1")]
    assert problems_of("- a list\n") == [(None, None, "must be a mapping")]
    assert validated(Toy, {"names": ["a"]}, Problems()).count == 1


def test_pydantic_reads_the_messages_in_english_and_the_schema_shows_the_types() -> None:
    with pytest.raises(ValidationError) as info:
        Toy(count=0, names=["\ud800", 5])
    assert "must be a whole number of at least 1" in str(info.value)
    names = Toy.model_json_schema()["properties"]["names"]
    assert names == {"items": {"type": "string"}, "title": "Names", "type": "array"}
