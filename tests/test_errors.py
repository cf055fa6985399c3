"""Errors a person can act on: each renders its message in the reader's language; the domain's keep their arguments."""

from __future__ import annotations

import pytest

from eventkit.core.errors import N_, UserError
from eventkit.events.events import EventCancelled, EventNotFound
from eventkit.registration.rules import InvalidLink, RegistrationClosed
from eventkit.sessions.participants import InvalidBoardLink
from eventkit.sessions.publish import NothingToPublish, NotPublished
from eventkit.survey.responses import SurveyClosed


def test_a_message_of_its_own_with_parameters() -> None:
    exc = UserError(
        N_("You have sent many forms in a short time. Please wait %(seconds)s seconds and try again."), seconds=5
    )
    assert str(exc) == "You have sent many forms in a short time. Please wait 5 seconds and try again."
    assert exc.render("de").startswith(
        "Sie haben in kurzer Zeit viele Formulare abgeschickt"
    ) and "5 Sekunden" in exc.render("de")
    assert exc.status == 400


@pytest.mark.parametrize(
    ("exc", "status", "german"),
    [
        (InvalidLink("fest"), 404, "Dieser persönliche Link ist nicht (mehr) gültig."),
        (InvalidBoardLink("fest"), 404, "Dieser persönliche Link ist nicht (mehr) gültig."),
        (RegistrationClosed("fest"), 409, "Die Anmeldung für diese Veranstaltung ist geschlossen."),
        (EventNotFound("fest"), 404, "Unter dieser Adresse gibt es keine Veranstaltung."),
        (SurveyClosed("fest", "en"), 410, "Diese Umfrage ist beendet"),
        (NothingToPublish("fest"), 409, "Es gibt noch keinen Plan zum Veröffentlichen"),
    ],
)
def test_domain_errors_keep_their_slug_and_render_their_class_message(exc: UserError, status: int, german: str) -> None:
    assert isinstance(exc, UserError) and exc.args == ("fest",)
    assert exc.status == status
    assert exc.render("de").startswith(german)
    assert exc.render("en") != exc.render("de")


def test_what_code_catches_today_still_catches_them() -> None:
    assert isinstance(InvalidLink("x"), LookupError) and isinstance(InvalidBoardLink("x"), InvalidLink)
    assert isinstance(NothingToPublish("x"), NotPublished)
    cancelled = EventCancelled("fest")
    assert isinstance(cancelled, ValueError) and cancelled.slug == "fest"
    assert cancelled.render("en").startswith("The event fest is cancelled")
