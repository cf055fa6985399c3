"""event-lifecycle: send the invitations, then schedule every later phase as a flow run of its deployment."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound

from eventkit import lifecycle, runtime
from eventkit.events import format_for, load_event
from flows.invitations import send_invitations


@task(name="plan-phases", cache_policy=NO_CACHE)
def plan_phases(slug: str, now: datetime | None) -> tuple[list[dict[str, Any]], int, str, str]:
    rt = runtime.get()
    with rt.store.session() as session:
        event, spec = load_event(session, slug)
        sequence = event.sequence
    timeline = lifecycle.plan(spec, format_for(rt.settings, spec.format), now)
    return [phase.as_dict() for phase in timeline], sequence, spec.format, spec.timezone


@task(name="schedule-phase", task_run_name="schedule {phase[phase]}", cache_policy=NO_CACHE, retries=2)
def schedule_phase(slug: str, phase: dict[str, Any], sequence: int, tags: list[str]) -> dict[str, Any]:
    step = lifecycle.Phase.from_dict(phase)
    if step.status != lifecycle.PLANNED or step.deployment is None:
        return phase
    try:
        run = cast(
            FlowRun,
            run_deployment(
                name=step.deployment,
                parameters=step.parameters,
                scheduled_time=step.at,
                flow_run_name=step.run_name(slug),
                timeout=0,
                tags=tags,
                idempotency_key=step.idempotency_key(slug, sequence),
                # the phase runs outlive this run: they are the event's, not children of the lifecycle run
                as_subflow=False,
            ),
        )
    except ObjectNotFound:
        return {**phase, "status": lifecycle.NOT_DEPLOYED}
    return {**phase, "status": lifecycle.SCHEDULED, "flow_run_id": str(run.id)}


@flow(name="event-lifecycle", flow_run_name="lifecycle · {slug}", log_prints=False)
def event_lifecycle(slug: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """Send the invitations not sent yet, then schedule reminders and the registration's close at their times.

    Triggering it again schedules nothing twice: every phase run carries an idempotency key of the event,
    the phase and the event's calendar sequence.
    """
    logger = get_run_logger()
    invited = send_invitations(slug, return_state=True)
    planned, sequence, format_name, timezone = plan_phases(slug, now)
    tags = [f"event:{slug}", f"format:{format_name}"]
    timeline = [schedule_phase(slug, phase, sequence, tags) for phase in planned]
    for phase in timeline:
        logger.info("%-20s %s  %-14s %s", phase["phase"], phase["scheduled_time"], phase["status"], phase["deployment"])
    missing = [p["phase"] for p in timeline if p["status"] == lifecycle.UNAVAILABLE]
    if missing:
        logger.info("not yet available (no flow for them yet): %s", ", ".join(missing))
    create_markdown_artifact(
        key=f"lifecycle-{slug}",
        markdown=lifecycle.timeline_markdown(slug, timezone, [lifecycle.Phase.from_dict(p) for p in timeline]),
        description=f"Lifecycle of {slug}: phases and their scheduled runs",
    )
    if invited.is_failed():
        # the phases are scheduled all the same; a retry of this run sends what is left and schedules nothing twice
        invited.result()
    return timeline
