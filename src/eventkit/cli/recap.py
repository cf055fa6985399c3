"""After the event: `eventkit recap SLUG` (the recap PDF and the thank-you emails) and `eventkit attendance SLUG`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from eventkit import runtime
from eventkit.cli.lazy import LazyFunction
from eventkit.cli.messages import _, current_language, user_errors
from eventkit.core.settings import Settings
from eventkit.events.events import load_event
from eventkit.recap import intake
from eventkit.recap.attendance import render_attendance

recap_flow = LazyFunction("flows.recap:recap_flow")


@click.command()
@click.argument("slug")
@click.option(
    "--input",
    "input_file",
    type=click.Path(path_type=Path),
    default=None,
    help="The recap file (YAML with Markdown texts, see examples/recaps/).",
)
@user_errors
def recap(slug: str, input_file: Path | None) -> None:
    """After the event: the recap PDF and the attendance list of event SLUG, and the thank-you emails."""
    settings = Settings.from_env()
    rt = runtime.configure(settings)
    with rt.store.session() as session:
        load_event(session, slug)
    if input_file is not None:
        intake.load_recap(input_file, intake.event_format(rt, slug), slug=slug)  # every mistake before anything runs
    elif intake.stored_recap(rt, slug) is None:
        click.echo(
            _(
                "There is no recap input for %(slug)s yet. Give one with --input FILE, or run the recap on a "
                "Prefect server and fill in the form on the run's page.",
                slug=slug,
            ),
            err=True,
        )
        sys.exit(2)
    state = recap_flow(slug, str(input_file.resolve()) if input_file else None, return_state=True)
    if state.is_failed():
        click.echo(_("The recap run failed: %(detail)s", detail=state.message or ""), err=True)
        sys.exit(1)
    result = state.result()
    click.echo(result["recap"])
    click.echo(result["attendance"])


@click.command()
@click.argument("slug")
@click.option("--blank", is_flag=True, help="To print before the event: everyone registered, nobody checked in.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write the PDF here.")
@user_errors
def attendance(slug: str, blank: bool, out: Path | None) -> None:
    """The attendance list (Teilnehmendenliste) of event SLUG as a PDF, one sheet per day."""
    settings = Settings.from_env()
    rt = runtime.configure(settings)
    with rt.store.session() as session:
        load_event(session, slug)
    made = render_attendance(rt, slug, blank=blank, out=out, language=current_language())
    click.echo(_("%(names)s names on %(pages)s pages.", names=made.names, pages=made.pages), err=True)
    click.echo(str(made.path))
