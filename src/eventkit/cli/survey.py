"""`eventkit survey send|remind|close|evaluate`: the follow-up survey of an event."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from eventkit import runtime
from eventkit.cli.lazy import LazyFunction
from eventkit.cli.messages import _, user_errors
from eventkit.core.settings import Settings
from eventkit.events.events import load_event
from eventkit.survey import responses

send_survey = LazyFunction("flows.survey:send_survey")
send_survey_reminder = LazyFunction("flows.survey:send_survey_reminder")
evaluate_survey = LazyFunction("flows.survey:evaluate_survey")


@click.group()
def survey() -> None:
    """The follow-up survey: send it, remind, close and evaluate."""


def _survey_run(slug: str, run: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
    rt = runtime.configure(Settings.from_env())
    with rt.store.session() as session:
        load_event(session, slug)
    state = run(slug, return_state=True, **kwargs)
    if state.is_failed():
        click.echo(_("The run failed: %(detail)s", detail=state.message or ""), err=True)
        sys.exit(1)
    result: dict[str, Any] = state.result()
    return result


@survey.command("send")
@click.argument("slug")
@user_errors
def survey_send(slug: str) -> None:
    """Open the survey of event SLUG and send everyone who attended their personal link."""
    result = _survey_run(slug, send_survey)
    if result.get("not_ended"):
        click.echo(_("The event %(slug)s has not ended yet: its survey opens after it.", slug=slug), err=True)
        sys.exit(2)
    if result.get("cancelled"):
        click.echo(_("The event %(slug)s is cancelled: there is no survey.", slug=slug), err=True)
        sys.exit(2)
    click.echo(
        _("Survey links: %(sent)s sent, %(failed)s failed.", sent=result.get("sent", 0), failed=result.get("failed", 0))
    )


@survey.command("remind")
@click.argument("slug")
@user_errors
def survey_remind(slug: str) -> None:
    """Remind those who have not answered the survey of event SLUG yet."""
    result = _survey_run(slug, send_survey_reminder)
    click.echo(
        _(
            "Survey reminders: %(sent)s sent, %(failed)s failed.",
            sent=result.get("sent", 0),
            failed=result.get("failed", 0),
        )
    )


@survey.command("close")
@click.argument("slug")
@user_errors
def survey_close(slug: str) -> None:
    """Close the survey of event SLUG now (its links then say it is closed)."""
    rt = runtime.configure(Settings.from_env())
    with rt.store.session() as session:
        load_event(session, slug)
    if responses.close_survey(rt, slug):
        click.echo(_("The survey of %(slug)s is closed.", slug=slug))
    else:
        click.echo(_("The survey of %(slug)s was not open.", slug=slug))


@survey.command("evaluate")
@click.argument("slug")
@click.option("--keep-open", is_flag=True, help="An interim look: leave the survey open.")
@user_errors
def survey_evaluate(slug: str, keep_open: bool) -> None:
    """Evaluate the survey of event SLUG: survey-SLUG.csv and evaluation-SLUG.pdf (closes it unless --keep-open)."""
    result = _survey_run(slug, evaluate_survey, close=not keep_open)
    if result["csv"] is None:
        click.echo(_("No survey was sent for %(slug)s: there is nothing to evaluate.", slug=slug), err=True)
        sys.exit(2)
    click.echo(
        _("%(responses)s responses of %(invited)s invited.", responses=result["responses"], invited=result["invited"]),
        err=True,
    )
    click.echo(result["csv"])
    if result["pdf"]:
        click.echo(result["pdf"])
