"""One base for every error a person can act on: an untranslated message, shown in the reader's language."""

from __future__ import annotations

from typing import Any, ClassVar

from eventkit.core.i18n import gettext_for


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, translate later"
    """Marks a message for extraction; it is translated when shown, in the reader's language."""
    return message


class UserError(Exception):
    """A mistake or a state that a person can act on; never shown as a traceback.

    Subclasses set `message` (a gettext msgid with %(name)s parameters) and, for the web, `status`;
    the CLI, the web app and the flows render it with `render(language)`.
    """

    message: ClassVar[str] = N_("Something went wrong.")
    status: ClassVar[int] = 400

    def __init__(self, message: str | None = None, **params: Any) -> None:
        self.text = message if message is not None else type(self).message
        self.params = params
        super().__init__(self.render("en"))

    def render(self, language: str = "de") -> str:
        text = gettext_for(language).gettext(self.text)
        return text % self.params if self.params else text
