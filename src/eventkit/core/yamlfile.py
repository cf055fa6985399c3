"""YAML an organiser wrote: its data with the line of every key, or a problem that names the line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from eventkit.core.validation import N_, Problems, ValidationFailed, read_text_file

Lines = dict[tuple[Any, ...], int]


@dataclass(frozen=True)
class YamlText:
    """The parsed document and, for each key path, the 1-based line where it is written."""

    data: Any
    lines: Lines
    source: str

    def problems(self) -> Problems:
        """An empty collection that names this file and finds the line of each field."""
        return Problems(self.source, self.lines)


def line_map(text: str) -> Lines:
    """For each key path in a YAML document, the 1-based line where its key (or, for a list item, its value) is."""
    lines: Lines = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    walk(value, (*path, key.value))
                    lines[(*path, key.value)] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    if root is not None:
        walk(root, ())
    return lines


def parse_yaml(text: str, source: str) -> YamlText:
    """Parse an organiser's YAML; ValidationFailed naming the file and the line when it is no valid YAML."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problems = Problems(source)
        problems.add(
            None,
            N_("not valid YAML: %(reason)s"),
            reason=getattr(exc, "problem", None) or str(exc),
            line=mark.line + 1 if mark else None,
        )
        raise ValidationFailed(problems.items) from None
    return YamlText(data, line_map(text), source)


def read_yaml(path: Path) -> YamlText:
    """An organiser's YAML file (UTF-8, a BOM allowed), parsed; ValidationFailed names the file on any problem."""
    return parse_yaml(read_text_file(path), str(path))
