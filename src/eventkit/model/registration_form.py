"""The registration form of an event: its fields (core plus the format's own) and the checks of what was sent.

The same checks serve the HTML form (strings, repeated keys for several choices) and the JSON API (typed
values); every problem names its field, and all of them are reported at once.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from email_validator import EmailNotValidError, validate_email

from eventkit.core.i18n import LANGUAGES
from eventkit.core.validation import N_, Problems, clean_line, has_control
from eventkit.model.formats import Format, Text
from eventkit.model.multiday import day_options, per_day
from eventkit.model.spec import EventSpec

MAX_NAME = 200
MAX_ORGANISATION = 300
MAX_EMAIL = 254
MAX_TEXT = 300
MAX_TEXTAREA = 4000
# keys a client may send besides the fields; the form's own (CSRF, invitation token, language switch)
FORM_EXTRAS = frozenset({"csrf_token", "t", "lang", "invitation_token", "language"})

CORE_LABELS = {
    "name": Text({"de": "Name", "en": "Name"}),
    "email": Text({"de": "E-Mail-Adresse", "en": "Email address"}),
    "organisation": Text({"de": "Organisation", "en": "Organisation"}),
    "privacy_consent": Text({"de": "Einwilligung in die Datenverarbeitung", "en": "Consent to data processing"}),
    "language": Text({"de": "Sprache", "en": "Language"}),
}
_TEXTAREA_CONTROL = frozenset("\t\n\r")


@dataclass(frozen=True)
class FormField:
    """A field as a page shows it: options resolved (also those taken from the event spec)."""

    name: str
    type: str
    label: Text
    required: bool
    options: tuple[tuple[str, Text], ...]
    help: Text | None


@dataclass(frozen=True)
class RegistrationInput:
    name: str
    email: str  # normalised (Unicode domain as typed, lower-cased)
    organisation: str | None
    language: str | None
    answers: dict[str, Any]


def form_fields(fmt: Format, spec: EventSpec) -> list[FormField]:
    """The format's own fields for this event; a field whose options come from the spec (working groups)
    gets them from there, and is left out when the event lists none."""
    out = []
    for f in fmt.registration_fields:
        options = f.options
        if f.options_from == "days":  # the event's own days, asked only where the organiser wants it
            if not per_day(spec):
                continue
            options = day_options(spec)
        elif f.options_from:
            values = spec.extra.get(f.options_from) or []
            options = tuple((str(v), Text({"de": str(v)})) for v in values if isinstance(v, str | int) and str(v))
            if not options:
                continue
        out.append(FormField(f.name, f.type, f.label, f.required, options, f.help))
    return out


def label_of(name: str, fields: list[FormField], language: str) -> str:
    if name in CORE_LABELS:
        return CORE_LABELS[name].get(language)
    for f in fields:
        if f.name == name:
            return f.label.get(language)
    return name


def _one_line(problems: Problems, name: str, value: object, max_len: int, *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.add(name, N_("is required"))
        return None
    if not isinstance(value, str):
        problems.add(name, N_("must be a text"))
        return None
    if has_control(value):
        problems.add(name, N_("contains a line break or control character"))
        return None
    value = clean_line(value)
    if len(value) > max_len:
        problems.add(name, N_("is too long (%(length)s characters, at most %(max)s)"), length=len(value), max=max_len)
        return None
    return value


def _multi_line(problems: Problems, name: str, value: object, max_len: int, *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.add(name, N_("is required"))
        return None
    if not isinstance(value, str):
        problems.add(name, N_("must be a text"))
        return None
    if any(has_control(c) and c not in _TEXTAREA_CONTROL for c in value):  # lone surrogates included
        problems.add(name, N_("contains a control character"))
        return None
    value = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if len(value) > max_len:
        problems.add(name, N_("is too long (%(length)s characters, at most %(max)s)"), length=len(value), max=max_len)
        return None
    return value


def _email(problems: Problems, name: str, value: object, *, required: bool) -> str | None:
    text = _one_line(problems, name, value, MAX_EMAIL + 50, required=required)
    if text is None:
        return None
    try:
        normalised = validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        problems.add(name, N_("is not a valid email address"))
        return None
    if len(normalised) > MAX_EMAIL:
        problems.add(name, N_("is too long (%(length)s characters, at most %(max)s)"), length=len(text), max=MAX_EMAIL)
        return None
    return normalised.lower()


def _flag(problems: Problems, name: str, value: object, source: str) -> bool | None:
    if source == "form":
        if value is None or value == "":
            return False
        if value in ("on", "true", "1", "yes"):
            return True
        problems.add(name, N_("must be true or false"))
        return None
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    problems.add(name, N_("must be true or false"))
    return None


def _choices(options: tuple[tuple[str, Text], ...]) -> str:
    return ", ".join(v for v, _ in options)


def parse_registration(
    fields: list[FormField],
    data: Mapping[str, Any],
    *,
    source: Literal["form", "json"],
) -> RegistrationInput:
    """Check what a person sent; raises ValidationFailed naming every field with a problem.

    For a form, `data` maps a key to a string, or to a list of strings for a multiple choice. For JSON
    it is the decoded object: types are checked too, and keys that are no field are refused.
    """
    problems = Problems()
    by_name = {f.name: f for f in fields}
    if source == "json":
        for key in data:
            if key not in CORE_LABELS and key not in by_name and key not in FORM_EXTRAS:
                # the key is echoed in the answer: only as printable, encodable text
                shown = str(key)[:100].encode("utf-8", "backslashreplace").decode("utf-8")
                problems.add(shown, N_("is not a field of this form"))

    def scalar(key: str) -> object:
        value = data.get(key)
        if source == "form" and isinstance(value, list):
            return value[-1] if value else None
        return value

    name = _one_line(problems, "name", scalar("name"), MAX_NAME, required=True)
    email = _email(problems, "email", scalar("email"), required=True)
    organisation = _one_line(problems, "organisation", scalar("organisation"), MAX_ORGANISATION, required=False)
    consent = _flag(problems, "privacy_consent", scalar("privacy_consent"), source)
    if consent is False:
        problems.add("privacy_consent", N_("must be given to register"))
    language = scalar("language")
    if language in (None, ""):
        language = None
    elif language not in LANGUAGES:
        problems.add("language", N_("must be one of %(choices)s"), choices=", ".join(LANGUAGES))
        language = None

    answers: dict[str, Any] = {}
    for f in fields:
        raw = data.get(f.name)
        value: Any
        if f.type == "multichoice":
            if source == "json" and raw is not None and not isinstance(raw, list):
                problems.add(f.name, N_("must be a list of %(choices)s"), choices=_choices(f.options))
                continue
            items = raw if isinstance(raw, list) else ([] if raw in (None, "") else [raw])
            allowed = {v for v, _ in f.options}
            if not all(isinstance(i, str) for i in items):
                problems.add(f.name, N_("must be a list of %(choices)s"), choices=_choices(f.options))
                continue
            unknown = [i for i in items if i not in allowed]
            if unknown:
                problems.add(f.name, N_("must be a list of %(choices)s"), choices=_choices(f.options))
                continue
            if f.required and not items:
                problems.add(f.name, N_("is required"))
                continue
            value = [v for v, _ in f.options if v in items]  # the format's order, no duplicates
        elif f.type == "choice":
            raw = scalar(f.name)
            if raw in (None, ""):
                if f.required:
                    problems.add(f.name, N_("is required"))
                value = None
            elif not isinstance(raw, str) or raw not in {v for v, _ in f.options}:
                problems.add(f.name, N_("must be one of %(choices)s"), choices=_choices(f.options))
                continue
            else:
                value = raw
        elif f.type == "checkbox":
            value = _flag(problems, f.name, scalar(f.name), source)
            if value is None:
                continue
            if f.required and not value:
                problems.add(f.name, N_("is required"))
                continue
        elif f.type == "textarea":
            value = _multi_line(problems, f.name, scalar(f.name), MAX_TEXTAREA, required=f.required)
        elif f.type == "email":
            value = _email(problems, f.name, scalar(f.name), required=f.required)
        else:
            value = _one_line(problems, f.name, scalar(f.name), MAX_TEXT, required=f.required)
        answers[f.name] = value
    problems.raise_if_any()
    assert name is not None and email is not None
    return RegistrationInput(name, email, organisation, language, answers)


def answers_summary(fields: list[FormField], answers: Mapping[str, Any], language: str) -> list[tuple[str, str]]:
    """What a person answered, as (label, value) lines in their language; empty answers are left out."""
    yes = {"de": "ja", "en": "yes"}.get(language, "yes")
    out = []
    for f in fields:
        value = answers.get(f.name)
        if value in (None, "", [], False):
            continue
        labels: dict[str, str] = {v: t.get(language) for v, t in f.options}
        if isinstance(value, list):
            text = ", ".join(labels.get(str(v), str(v)) for v in value)
        elif value is True:
            text = yes
        else:
            text = labels.get(str(value), str(value))
        out.append((f.label.get(language), text))
    return out
