"""Submitted forms: their values, their problems shown beside the fields, the registration form's context."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from starlette.datastructures import FormData

from eventkit.core.i18n import gettext_for
from eventkit.core.validation import ValidationFailed
from eventkit.model.registration_form import CORE_LABELS, FormField


def form_values(form: FormData) -> dict[str, Any]:
    """A submitted form as a dict: a key given several times (multiple choice) becomes a list."""
    out: dict[str, Any] = {}
    for key in form.keys():  # noqa: SIM118 - a multi-dict: keys() lists each key once
        values = form.getlist(key)
        out[key] = values if len(values) > 1 else values[0]
    return out


def field_text(values: dict[str, Any], key: str) -> str:
    """One text field of a submitted form ('' when absent or given several times)."""
    value = values.get(key)
    return value if isinstance(value, str) else ""


@dataclass
class Form:
    """A submitted form: its values, and the language it was sent in (its lang field, else the request's)."""

    values: dict[str, Any]
    language: str

    def text(self, key: str) -> str:
        return field_text(self.values, key)


def field_errors(exc: ValidationFailed, language: str, label: Callable[[str], str]) -> list[SimpleNamespace]:
    """The problems of a form, each with its field's label, for the page that shows the form again."""
    _ = gettext_for(language).gettext
    out = []
    for problem in exc.problems:
        name = problem.field or ""
        message = _(problem.message) % dict(problem.params) if problem.params else _(problem.message)
        out.append(SimpleNamespace(field=name, label=label(name), message=message))
    return out


def form_context(
    slug: str,
    fields: list[FormField],
    language: str,
    values: dict[str, Any],
    errors: list[SimpleNamespace] | None = None,
    *,
    mode: str = "register",
    token: str | None = None,
) -> dict[str, Any]:
    """What web/_form.html needs: for a new registration (token: the invitation's) or for changing one
    (mode manage, token: the personal link's)."""
    return {
        "fields": fields,
        "core_labels": {k: v.get(language) for k, v in CORE_LABELS.items()},
        "values": values,
        "errors": errors or [],
        "error_for": {e.field: e for e in errors or []},
        "invitation_token": token if mode == "register" else None,
        "mode": mode,
        "manage_token": token if mode == "manage" else None,
        "action": f"/e/{slug}/register" if mode == "register" else f"/e/{slug}/manage",
    }
