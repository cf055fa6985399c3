"""The one YAML reader of organiser files: the line of every key, and a YAML mistake named with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventkit.core.validation import ValidationFailed
from eventkit.core.yamlfile import line_map, parse_yaml, read_yaml
from eventkit.model.formats import discover
from eventkit.model.minutes import parse_minutes
from eventkit.model.series_file import parse_series
from eventkit.model.spec import parse_spec
from eventkit.recap.intake import parse_recap
from tests.conftest import TEMPLATES


def test_lines_of_keys_and_list_items() -> None:
    lines = line_map("title: x\nvenue:\n  name: Saal\nagenda:\n  - {time: '12:00', title: a}\n  - time: '13:00'\n")
    assert lines[("title",)] == 1 and lines[("venue",)] == 2 and lines[("venue", "name")] == 3
    assert lines[("agenda", 0)] == 5 and lines[("agenda", 1, "time")] == 6


def test_no_yaml_names_the_line_in_every_organiser_file() -> None:
    text = "title: x\nfoo: [unclosed\n"
    for parse in (
        lambda: parse_spec(text, TEMPLATES, source="f.yaml"),
        lambda: parse_series(text, TEMPLATES, source="f.yaml"),
        lambda: parse_minutes(text, source="f.yaml"),
        lambda: parse_recap(text, discover(TEMPLATES)["barcamp"], source="f.yaml"),
    ):
        with pytest.raises(ValidationFailed) as info:
            parse()
        assert info.value.render("en") == "f.yaml:3: not valid YAML: expected ',' or ']', but got '<stream end>'"
        assert info.value.render("de").startswith("f.yaml:3: kein gültiges YAML")


def test_a_file_is_read_as_utf8_with_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes("\ufefftitle: Straße\n".encode())
    doc = read_yaml(path)
    assert doc.data == {"title": "Straße"} and doc.source == str(path)
    assert parse_yaml("a: 1\n", "s").problems().source == "s"
