"""Meeting formats, discovered from templates/formats/<name>/format.yaml and merged over _base."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from eventkit.core.i18n import LANGUAGES
from eventkit.core.validation import N_, Problems

_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*$")
FIELD_TYPES = ("text", "textarea", "email", "choice", "multichoice", "checkbox")
# what a section of a format's recap holds: Markdown, a list of texts, organisations (name, town, note),
# working groups (title, results), the session grid (round, table, title, host, notes), a date or a text
RECAP_KINDS = ("text", "list", "organisations", "groups", "sessions", "date")


def parse_duration(value: object) -> timedelta | None:
    """'7d', '5h', '1d12h', '90m' as a timedelta; None when it is not such a string."""
    if not isinstance(value, str) or not value.strip():
        return None
    match = _DURATION.match(value)
    if not match or not any(match.groups()):
        return None
    days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


@dataclass(frozen=True)
class Text:
    """A text in every supported language; .get() falls back to German, then to any."""

    values: dict[str, str]

    def get(self, language: str) -> str:
        return self.values.get(language) or self.values.get("de") or next(iter(self.values.values()), "")

    def __str__(self) -> str:
        return self.get("de")


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    label: Text
    required: bool = False
    options: tuple[tuple[str, Text], ...] = ()
    help: Text | None = None
    # the options come from a list in the event spec (e.g. working_groups), not from format.yaml
    options_from: str | None = None


@dataclass(frozen=True)
class AgendaSkeletonItem:
    offset: timedelta
    title: Text


@dataclass(frozen=True)
class RecapSection:
    """A section of the recap that only this format has: the key of the recap input, what it holds, the
    hint the Prefect UI's recap form shows, and the heading in the recap (else the shared template's)."""

    name: str
    kind: str
    description: str = ""
    title: Text | None = None


@dataclass(frozen=True)
class Format:
    name: str
    path: Path
    title: Text
    description: Text
    duration: timedelta
    agenda: tuple[AgendaSkeletonItem, ...]
    reminders: tuple[timedelta, ...]
    phases: dict[str, timedelta]
    registration_fields: tuple[Field, ...]
    spec_fields: dict[str, str]
    survey: tuple[dict[str, Any], ...]
    recap: tuple[RecapSection, ...] = ()
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


class FormatError(ValueError):
    pass


def _text(value: object, path: tuple[Any, ...], problems: Problems) -> Text:
    if isinstance(value, str):
        return Text({"de": value})
    if isinstance(value, dict) and value and all(isinstance(v, str) for v in value.values()):
        unknown = [k for k in value if k not in LANGUAGES]
        if unknown:
            problems.add(path, N_("unknown language %(value)s (use de or en)"), value=", ".join(map(str, unknown)))
        return Text({str(k): str(v) for k, v in value.items()})
    problems.add(path, N_("must be a text, or a mapping of language to text (de, en)"))
    return Text({})


def _load_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise FormatError(f"{path}: must be a mapping of keys to values")
    return data


def _parse_format(name: str, path: Path, data: dict[str, Any]) -> Format:
    problems = Problems(source=str(path / "format.yaml"))
    title = _text(data.get("title", name), ("title",), problems)
    description = _text(data.get("description", ""), ("description",), problems)
    duration = parse_duration(data.get("duration", "3h"))
    if duration is None or duration <= timedelta(0):
        problems.add("duration", N_("must be a duration such as 5h, 90m or 2d"))
        duration = timedelta(hours=3)
    agenda = []
    for i, item in enumerate(data.get("agenda") or []):
        offset = parse_duration(str(item.get("at", "0m"))) if isinstance(item, dict) else None
        if offset is None:
            problems.add(("agenda", i, "at"), N_("must be a duration such as 5h, 90m or 2d"))
            continue
        agenda.append(AgendaSkeletonItem(offset, _text(item.get("title"), ("agenda", i, "title"), problems)))
    reminders = []
    for i, raw in enumerate(data.get("reminders") or []):
        offset = parse_duration(raw)
        if offset is None:
            problems.add(("reminders", i), N_("must be a duration such as 5h, 90m or 2d"))
        else:
            reminders.append(offset)
    phases = {}
    for key, raw in (data.get("phases") or {}).items():
        offset = parse_duration(raw)
        if offset is None:
            problems.add(("phases", key), N_("must be a duration such as 5h, 90m or 2d"))
        else:
            phases[str(key)] = offset
    fields = []
    for i, raw in enumerate(data.get("registration_fields") or []):
        if not isinstance(raw, dict) or not raw.get("name"):
            problems.add(("registration_fields", i), N_("each field needs at least a name"))
            continue
        ftype = raw.get("type", "text")
        if ftype not in FIELD_TYPES:
            problems.add(
                ("registration_fields", i, "type"),
                N_("must be one of %(choices)s"),
                choices=", ".join(FIELD_TYPES),
            )
        options = tuple(
            (
                str(o["value"]),
                _text(o.get("label", o["value"]), ("registration_fields", i, "options", j), problems),
            )
            for j, o in enumerate(raw.get("options") or [])
            if isinstance(o, dict) and "value" in o
        )
        fields.append(
            Field(
                name=str(raw["name"]),
                type=ftype,
                label=_text(raw.get("label", raw["name"]), ("registration_fields", i, "label"), problems),
                required=bool(raw.get("required", False)),
                options=options,
                help=_text(raw["help"], ("registration_fields", i, "help"), problems) if raw.get("help") else None,
                options_from=str(raw["options_from"]) if raw.get("options_from") else None,
            )
        )
    spec_fields = {str(k): str(v) for k, v in (data.get("spec_fields") or {}).items()}
    survey = tuple(q for q in (data.get("survey") or []) if isinstance(q, dict))
    recap = _recap_sections(data.get("recap"), problems)
    problems.raise_if_any()
    return Format(
        name=name,
        path=path,
        title=title,
        description=description,
        duration=duration,
        agenda=tuple(agenda),
        reminders=tuple(reminders),
        phases=phases,
        registration_fields=tuple(fields),
        spec_fields=spec_fields,
        survey=survey,
        recap=recap,
        raw=data,
    )


def _recap_sections(raw: object, problems: Problems) -> tuple[RecapSection, ...]:
    """`recap:` of a format.yaml: each section's key with its kind, or with {kind, description}."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        problems.add("recap", N_("must be a mapping"))
        return ()
    sections = []
    for name, value in raw.items():
        entry = value if isinstance(value, dict) else {"kind": value}
        kind, description = entry.get("kind"), entry.get("description") or ""
        if kind not in RECAP_KINDS or not isinstance(description, str):
            problems.add(("recap", str(name), "kind"), N_("must be one of %(choices)s"), choices=", ".join(RECAP_KINDS))
            continue
        title = _text(entry["title"], ("recap", str(name), "title"), problems) if entry.get("title") else None
        sections.append(RecapSection(str(name), str(kind), description, title))
    return tuple(sections)


def _merge(base: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **own}
    # shared registration fields (support needs, consent) come first, the format's own after them
    merged["registration_fields"] = list(base.get("registration_fields") or []) + list(
        own.get("registration_fields") or []
    )
    merged["spec_fields"] = {**(base.get("spec_fields") or {}), **(own.get("spec_fields") or {})}
    return merged


@lru_cache(maxsize=4)
def discover(template_dir: Path) -> dict[str, Format]:
    """Every folder under templates/formats with a format.yaml is a format; nothing else is registered."""
    base_file = template_dir / "_base" / "format.yaml"
    base = _load_yaml(base_file) if base_file.is_file() else {}
    formats = {}
    formats_dir = template_dir / "formats"
    for folder in sorted(formats_dir.iterdir()) if formats_dir.is_dir() else []:
        spec = folder / "format.yaml"
        if folder.is_dir() and spec.is_file():
            merged = _merge(base, _load_yaml(spec))
            merged["survey"] = _survey_questions(folder, template_dir, merged)
            formats[folder.name] = _parse_format(folder.name, folder, merged)
    return formats


def _survey_questions(folder: Path, template_dir: Path, merged: dict[str, Any]) -> list[Any]:
    """The survey's questions: the format's survey.yaml, else _base/survey.yaml (each file replaces the
    list as a whole); a `survey:` key left in a format.yaml counts only where neither file exists."""
    for path in (folder / "survey.yaml", template_dir / "_base" / "survey.yaml"):
        if path.is_file():
            questions = _load_yaml(path).get("questions")
            if not isinstance(questions, list):
                raise FormatError(f"{path}: needs a list `questions:`")
            return questions
    return list(merged.get("survey") or [])
