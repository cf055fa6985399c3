"""`eventkit lifecycle SLUG`: the phases of an event scheduled, on a Prefect server or here."""

from __future__ import annotations

import os
import sys

import click

from eventkit import runtime
from eventkit.cli.lazy import LazyFunction
from eventkit.cli.messages import _, user_errors
from eventkit.core.settings import Settings
from eventkit.events.events import format_for, load_event
from eventkit.model import lifecycle as phases

event_lifecycle = LazyFunction("flows.lifecycle:event_lifecycle")


@click.command()
@click.argument("slug")
@user_errors
def lifecycle(slug: str) -> None:
    """Run the lifecycle of event SLUG: send the invitations, schedule reminders and the later phases."""
    settings = Settings.from_env()
    rt = runtime.configure(settings)
    with rt.store.session() as session:
        spec = load_event(session, slug)[1]
    if os.environ.get("PREFECT_API_URL"):
        from prefect.client.schemas.objects import FlowRun
        from prefect.deployments import run_deployment
        from prefect.utilities.urls import url_for

        run: FlowRun = run_deployment(  # type: ignore[assignment]
            "event-lifecycle/event-lifecycle", parameters={"slug": slug}, timeout=0, as_subflow=False
        )
        click.echo(_("Started the event-lifecycle run %(id)s on the Prefect server.", id=str(run.id)))
        url = url_for(run)
        if url:
            click.echo(url)
        click.echo(_("It will schedule these phases:"))
        timeline = phases.plan(spec, format_for(settings, spec.format))
    else:
        click.echo(_("No Prefect server configured (PREFECT_API_URL): running the lifecycle here."), err=True)
        state = event_lifecycle(slug, return_state=True)
        if state.is_failed():
            click.echo(_("The event-lifecycle run failed: %(detail)s", detail=state.message or ""), err=True)
            sys.exit(1)
        timeline = [phases.Phase.from_dict(p) for p in state.result()]
    status_text = {
        phases.PLANNED: _("planned"),
        phases.SCHEDULED: _("scheduled"),
        phases.PAST: _("already past, skipped"),
        phases.UNAVAILABLE: _("not yet available"),
        phases.NOT_DEPLOYED: _("not scheduled: no such deployment on a Prefect server"),
    }
    for phase in timeline:
        when = phase.at.astimezone(spec.start.tzinfo).strftime("%Y-%m-%d %H:%M")
        click.echo(f"{when}  {phase.name:20} {status_text.get(phase.status, phase.status)}")
