"""`eventkit event create|cancel`: an event stored from its spec, changed or cancelled, and everyone told."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from eventkit import runtime
from eventkit.cli.lazy import LazyFunction
from eventkit.cli.messages import _, user_errors
from eventkit.core.errors import N_
from eventkit.core.settings import Settings
from eventkit.core.validation import Problems, clean_line, has_control
from eventkit.events.changes import NotCancellable, cancel_event, previous_of
from eventkit.events.events import announced, find_event, save_event
from eventkit.model.spec import load_spec
from eventkit.runtime import Runtime

# run only when people already know the event: a new event is stored without waiting for Prefect to load
event_changed = LazyFunction("flows.changes:event_changed")


@click.group()
def event() -> None:
    """Create and update events."""


@event.command("create")
@click.argument("spec_file", type=click.Path(path_type=Path))
@user_errors
def event_create(spec_file: Path) -> None:
    """Validate SPEC_FILE and store the event (or update it); prints the event's slug."""
    settings = Settings.from_env()
    spec = load_spec(spec_file, settings.template_dir)
    rt = runtime.configure(settings)
    saved = save_event(rt.store, settings, spec)
    if saved.created:
        click.echo(_("Created event %(slug)s.", slug=saved.slug), err=True)
    elif saved.changed:
        click.echo(
            _(
                "Updated event %(slug)s (changed: %(fields)s; calendar sequence %(sequence)s).",
                slug=saved.slug,
                fields=", ".join(saved.changed),
                sequence=saved.sequence,
            ),
            err=True,
        )
    else:
        click.echo(_("Updated event %(slug)s.", slug=saved.slug), err=True)
    if saved.changed:
        _announce_change(rt, saved.slug, saved.previous)
    click.echo(saved.slug)


@event.command("cancel")
@click.argument("slug")
@click.option("--reason", default=None, help="A sentence for the cancellation email, e.g. why and what comes next.")
@user_errors
def event_cancel(slug: str, reason: str | None) -> None:
    """Cancel event SLUG: tell everyone invited or registered (METHOD:CANCEL) and cancel its scheduled runs."""
    settings = Settings.from_env()
    rt = runtime.configure(settings)
    if reason is not None:
        problems = Problems()
        if has_control(reason):
            problems.add("--reason", N_("must be a single line without control characters"))
        elif len(reason) > 1000:
            problems.add(
                "--reason", N_("is too long (%(length)s characters, at most %(max)s)"), length=len(reason), max=1000
            )
        problems.raise_if_any()
        reason = clean_line(reason) or None
    try:
        sequence = cancel_event(rt, slug, reason)
    except NotCancellable as exc:
        if str(exc) == "cancelled":
            click.echo(_("The event %(slug)s is cancelled already.", slug=slug), err=True)
        else:
            click.echo(_("The event %(slug)s is over: there is nothing left to cancel.", slug=slug), err=True)
        sys.exit(2)
    click.echo(_("Cancelled event %(slug)s (calendar sequence %(sequence)s).", slug=slug, sequence=sequence), err=True)
    _announce_change(rt, slug, None, always=True)


def _announce_change(rt: Runtime, slug: str, previous: dict[str, Any] | None, *, always: bool = False) -> None:
    """Run event-changed (here, reporting to the Prefect server if one is configured) once people know the event."""
    with rt.store.session() as session:
        if not always and not announced(session, find_event(session, slug)):
            return  # nobody has been told of the event yet: there is no one to update
    state = event_changed(slug, previous_of(previous) if previous else None, return_state=True)
    if state.is_failed():
        click.echo(_("The event-changed run failed: %(detail)s", detail=state.message or ""), err=True)
        sys.exit(1)
    result = state.result()
    written, sent = result["written"], result["sent"]
    click.echo(
        _(
            "Told %(people)s people of the change (%(sent)s sent, %(failed)s failed, %(waiting)s waiting); "
            "%(runs)s scheduled runs moved or cancelled.",
            people=written["emails"] + written["already"],
            sent=sent["sent"],
            failed=sent["failed"],
            waiting=sent["retry"],
            runs=len(result["runs"]),
        ),
        err=True,
    )
