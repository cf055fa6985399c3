"""What the commands say: messages in the reader's language, and a person's mistake as a message and an exit code."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from sqlalchemy.exc import OperationalError

from eventkit.core.errors import UserError
from eventkit.core.i18n import LANGUAGES, gettext_for
from eventkit.core.settings import SettingsError
from eventkit.core.validation import ValidationFailed
from eventkit.events.events import EventCancelled, EventNotFound

F = TypeVar("F", bound=Callable[..., Any])

# errors raised before anything is written: the command says so after the error's own message
STOPPED_BEFORE_WRITING = (ValidationFailed, EventCancelled)


def current_language() -> str:
    """The language of messages: `eventkit --lang`, else EVENTKIT_LANGUAGE, else German."""
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.obj and "lang" in ctx.obj:
            return str(ctx.obj["lang"])
        ctx = ctx.parent
    return os.environ.get("EVENTKIT_LANGUAGE", "de") if os.environ.get("EVENTKIT_LANGUAGE") in LANGUAGES else "de"


def _(message: str, **params: Any) -> str:
    text = gettext_for(current_language()).gettext(message)
    return text % params if params else text


def user_errors(func: F) -> F:
    """A person's mistake ends with a message naming the problem and a non-zero exit, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        # the errors that the command line words its own way come before UserError, which some of them are
        except SettingsError as exc:
            click.echo(_("Configuration error: %(detail)s", detail=str(exc)), err=True)
            sys.exit(2)
        except EventNotFound as exc:
            click.echo(
                _(
                    "No event with the slug %(slug)s. Create it first with: eventkit event create SPEC.yaml",
                    slug=exc.slug,
                ),
                err=True,
            )
            sys.exit(2)
        except UserError as exc:
            click.echo(exc.render(current_language()), err=True)
            if isinstance(exc, STOPPED_BEFORE_WRITING):
                click.echo(_("Nothing was stored."), err=True)
            sys.exit(2)
        except OperationalError as exc:
            click.echo(_("The database cannot be reached: %(detail)s", detail=str(exc.orig)), err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]
