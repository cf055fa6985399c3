"""The commands for recurring meetings (eventkit series ...) and their minutes (eventkit minutes SLUG)."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

import click

from eventkit import runtime
from eventkit.cli.lazy import LazyFunction
from eventkit.cli.messages import _, user_errors
from eventkit.core.settings import Settings
from eventkit.minutes.minutes import take_input
from eventkit.model.series_file import load_series
from eventkit.series import meetings as series_meetings
from eventkit.series import stored as series_stored

send_series_invitation = LazyFunction("flows.series:send_series_invitation")
update_series = LazyFunction("flows.series:update_series")


@click.group()
def series() -> None:
    """Recurring meetings: a series file with an RRULE, its members and its meetings."""


def _not_found(slug: str) -> NoReturn:
    click.echo(_("No series with the slug %(slug)s. Create it first with: eventkit series create SERIES.yaml",
                 slug=slug), err=True)  # fmt: skip
    sys.exit(2)


@series.command("create")
@click.argument("series_file", type=click.Path(path_type=Path))
@click.option("--horizon", "horizon_days", type=click.IntRange(1, 730), default=120, show_default=True,
              help="Create the meetings of this many days ahead as events.")  # fmt: skip
@user_errors
def series_create(series_file: Path, horizon_days: int) -> None:
    """Validate SERIES_FILE, store the series and create its meetings of the next days; prints their slugs."""
    settings = Settings.from_env()
    definition = load_series(series_file, settings.template_dir)
    rt = runtime.configure(settings)
    change = series_stored.store_series(settings, definition)
    if change.created:
        click.echo(_("Created series %(slug)s.", slug=change.slug), err=True)
    else:
        click.echo(_("Updated series %(slug)s.", slug=change.slug), err=True)
    created = series_meetings.create_meetings(rt, definition.slug, horizon=timedelta(days=horizon_days))
    click.echo(_("%(count)s new meetings as events.", count=len(created)), err=True)
    click.echo(definition.slug)
    for slug in created:
        click.echo(slug)


@series.command("invite")
@click.argument("slug")
@user_errors
def series_invite(slug: str) -> None:
    """Send the series invitation (all meetings in one calendar) to the members of series SLUG."""
    settings = Settings.from_env()
    runtime.configure(settings)
    try:
        series_stored.load_stored(settings, slug)
    except series_stored.SeriesNotFound:
        _not_found(slug)
    state = send_series_invitation(slug, return_state=True)
    if state.is_failed():
        click.echo(_("The send-series-invitation run failed: %(detail)s", detail=state.message or ""), err=True)
        sys.exit(1)
    result = state.result()
    click.echo(_("Series invitations for %(slug)s: %(written)s new, %(sent)s sent, %(failed)s failed.", slug=slug,
                 written=result["written"], sent=result["sent"], failed=result["failed"]))  # fmt: skip
    if result["failed"]:
        sys.exit(1)


@series.command("update")
@click.argument("series_file", type=click.Path(path_type=Path))
@user_errors
def series_update(series_file: Path) -> None:
    """Store the changed SERIES_FILE: moved or skipped meetings go to the members' calendars, and the meetings
    that exist as events move or are cancelled (telling their registrants)."""
    settings = Settings.from_env()
    definition = load_series(series_file, settings.template_dir)
    rt = runtime.configure(settings)
    try:
        series_stored.load_stored(settings, definition.slug)
    except series_stored.SeriesNotFound:
        _not_found(definition.slug)
    done = update_series(rt, definition)
    if not done["changed"]:
        click.echo(_("Nothing in the calendar of series %(slug)s has changed.", slug=done["slug"]), err=True)
    for slug in done["stay_cancelled"]:
        click.echo(_("The meeting %(slug)s was cancelled before and stays cancelled.", slug=slug), err=True)
    for name, detail in done["failed_runs"]:
        if name == "send-series-mail":
            click.echo(_("The send-series-mail run failed: %(detail)s", detail=detail), err=True)
        else:
            click.echo(_("The event-changed run failed: %(detail)s", detail=detail), err=True)
        sys.exit(1)
    click.echo(_("Series %(slug)s: calendar sequence %(sequence)s; %(written)s updates to members (%(sent)s sent, "
                 "%(failed)s failed); %(meetings)s meetings changed.", slug=done["slug"], sequence=done["sequence"],
                 written=done["written"], sent=done["sent"], failed=done["failed"],
                 meetings=len(done["meetings"]) + len(done["stay_cancelled"])))  # fmt: skip


@click.command("minutes")
@click.argument("slug")
@click.option("--input", "input_file", type=click.Path(path_type=Path), required=True,
              help="The minutes: YAML with decisions and tasks (who, what, due, done).")  # fmt: skip
@user_errors
def minutes(slug: str, input_file: Path) -> None:
    """Keep the minutes of meeting SLUG; its open tasks appear in the next meeting's invitation."""
    settings = Settings.from_env()
    rt = runtime.configure(settings)
    kept = take_input(rt, slug, input_file)
    still_open = sum(1 for t in kept.tasks if not t.done)
    click.echo(_("Minutes of %(slug)s kept: %(decisions)s decisions, %(tasks)s tasks (%(open)s open).", slug=slug,
                 decisions=len(kept.decisions), tasks=len(kept.tasks), open=still_open))  # fmt: skip
