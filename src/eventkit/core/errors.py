"""One base for every error a person can act on: an untranslated message, shown in the reader's language."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from eventkit.core.i18n import gettext_for


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, translate later"
    """Marks a message for extraction; it is translated when shown, in the reader's language."""
    return message


class UserError(Exception):
    """A mistake or a state that a person can act on; never shown as a traceback.

    Subclasses set `message` (a gettext msgid with %(name)s parameters) and, for the web, `status`;
    the CLI, the web app and the flows render it with `render(language)`.

    A subclass may put a built-in exception first (`class InvalidLink(LookupError, UserError)`): it keeps
    that constructor, so its arguments (the slug, say) stay what code and logs have always seen, and it
    renders its class's `message`.
    """

    message: ClassVar[str] = N_("Something went wrong.")
    status: ClassVar[int] = 400
    text: str | None = None  # set by the constructor; None: the class's message
    params: Mapping[str, Any] = MappingProxyType({})

    def __init__(self, message: str | None = None, **params: Any) -> None:
        self.text = message if message is not None else type(self).message
        self.params = params
        super().__init__(self.render("en"))

    def render(self, language: str = "de") -> str:
        text = gettext_for(language).gettext(self.text or self.message)
        return text % self.params if self.params else text
