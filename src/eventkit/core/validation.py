"""Problems found in what a person or a file supplied, reported by place and translated on output."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventkit.core.errors import N_ as N_  # re-exported: validators mark their messages with it
from eventkit.core.errors import UserError
from eventkit.core.i18n import gettext_for

# C0/C1 control characters other than tab: never allowed in a one-line field (names, titles, subjects).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True)
class Problem:
    """One thing wrong: where (file, line, field or row) and what, as an untranslated message."""

    message: str
    params: Mapping[str, Any] = field(default_factory=dict)
    field: str | None = None
    source: str | None = None
    line: int | None = None

    def render(self, language: str = "de") -> str:
        _ = gettext_for(language).gettext
        text = _(self.message) % dict(self.params) if self.params else _(self.message)
        where = ""
        if self.source:
            where = self.source + (f":{self.line}" if self.line else "") + ": "
        elif self.line:
            where = _("line %(line)s") % {"line": self.line} + ": "
        if self.field:
            where += f"{self.field}: "
        return where + text


class ValidationFailed(UserError, ValueError):
    """Raised with every problem found, so a person can fix them all in one go."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        ValueError.__init__(self, self.render("en"))

    def render(self, language: str = "de") -> str:
        return "\n".join(p.render(language) for p in self.problems)


class Problems:
    """Collects problems while validating; raise_if_any() ends validation with all of them."""

    def __init__(self, source: str | None = None, lines: Mapping[tuple[Any, ...], int] | None = None):
        self.source = source
        self.lines = lines or {}
        self.items: list[Problem] = []

    def add(self, path: tuple[Any, ...] | str | None, message: str, *, line: int | None = None, **params: Any) -> None:
        if isinstance(path, str):
            path = (path,)
        name = None
        if path:
            name = dotted(path)
            # the nearest enclosing node with a known line
            for n in range(len(path), 0, -1):
                if line is not None:
                    break
                if path[:n] in self.lines:
                    line = self.lines[path[:n]]
                    break
        self.items.append(Problem(message, params, name, self.source, line))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationFailed(self.items)


def dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def clean_line(value: str) -> str:
    """NFC-normalise and strip a one-line text; callers check has_control() first."""
    return unicodedata.normalize("NFC", value).strip()


# a UTF-16 surrogate on its own (JSON's "\ud800") is no character: it cannot be stored, sent or printed
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def has_control(value: str) -> bool:
    """Control characters, or lone surrogates (which only an escape such as \\ud800 in JSON can produce)."""
    return bool(_CONTROL.search(value) or _SURROGATE.search(value))


def has_surrogate(value: str) -> bool:
    return bool(_SURROGATE.search(value))


def read_text_file(path: Path) -> str:
    """An organiser's file as text (UTF-8, a BOM allowed); ValidationFailed naming the file if it cannot be read."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        problems = Problems(str(path))
        problems.add(None, N_("cannot read the file: %(reason)s"), reason=exc.strerror or str(exc))
        raise ValidationFailed(problems.items) from None
    except UnicodeDecodeError:
        problems = Problems(str(path))
        problems.add(None, N_("the file is not UTF-8 encoded; save it as UTF-8 and try again"))
        raise ValidationFailed(problems.items) from None
