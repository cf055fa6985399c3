"""event-lifecycle: send the invitations, then schedule every later phase as a flow run of its deployment."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from prefect import flow, get_client, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.runtime import flow_run as this_run
from prefect.states import Cancelled, Scheduled

from eventkit import runtime
from eventkit.events.events import format_for, load_event
from eventkit.model import lifecycle
from flows.invitations import send_invitations
from flows.tables import publish_registration_table


@task(name="plan-phases", cache_policy=NO_CACHE)
def plan_phases(slug: str, now: datetime | None) -> tuple[list[dict[str, Any]], int, str, str]:
    rt = runtime.get()
    with rt.store.session() as session:
        event, spec = load_event(session, slug)
        sequence = event.sequence
    timeline = lifecycle.plan(spec, format_for(rt.settings, spec.format), now)
    return [phase.as_dict() for phase in timeline], sequence, spec.format, spec.timezone


def phase_tag(name: str) -> str:
    return f"phase:{name}"


def waiting_runs(slug: str) -> list[FlowRun]:
    """The event's phase runs that have not started yet (scheduled, or late and pending), oldest first."""
    states = FlowRunFilterStateType(any_=[StateType.SCHEDULED, StateType.PENDING])
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=[f"event:{slug}"]), state=FlowRunFilterState(type=states)
            )
        )
    me = this_run.get_id()
    return sorted((r for r in runs if str(r.id) != me), key=lambda r: scheduled_time(r) or datetime.now(UTC))


def scheduled_time(run: FlowRun) -> datetime | None:
    """When a waiting run is due now (expected_start_time keeps the time it was first scheduled for)."""
    return run.next_scheduled_start_time or run.expected_start_time


def phase_of(run: FlowRun) -> str | None:
    return next((tag.split(":", 1)[1] for tag in run.tags if tag.startswith("phase:")), None)


@task(name="schedule-phase", task_run_name="schedule {phase[phase]}", cache_policy=NO_CACHE, retries=2)
def schedule_phase(slug: str, phase: dict[str, Any], sequence: int, tags: list[str]) -> dict[str, Any]:
    step = lifecycle.Phase.from_dict(phase)
    if step.status != lifecycle.PLANNED or step.deployment is None:
        return phase
    # a run of this phase made for an earlier version of the event was moved when the event changed: it stands
    existing = next((r for r in waiting_runs(slug) if phase_of(r) == step.name), None)
    if existing is not None:
        return {**phase, "status": lifecycle.SCHEDULED, "flow_run_id": str(existing.id)}
    try:
        run = cast(
            FlowRun,
            run_deployment(
                name=step.deployment,
                parameters=step.parameters,
                scheduled_time=step.at,
                flow_run_name=step.run_name(slug),
                timeout=0,
                tags=[*tags, phase_tag(step.name)],
                idempotency_key=step.idempotency_key(slug, sequence),
                # the phase runs outlive this run: they are the event's, not children of the lifecycle run
                as_subflow=False,
            ),
        )
    except ObjectNotFound:
        return {**phase, "status": lifecycle.NOT_DEPLOYED}
    return {**phase, "status": lifecycle.SCHEDULED, "flow_run_id": str(run.id), "created": True}


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
    publish_registration_table(slug)
    if invited.is_failed():
        # the phases are scheduled all the same; a retry of this run sends what is left and schedules nothing twice
        invited.result()
    return timeline


@task(name="move-phases", cache_policy=NO_CACHE, retries=2)
def move_phases(slug: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """After a change of time: each waiting phase run moves to its new time, or is cancelled if that has passed."""
    rt = runtime.get()
    with rt.store.session() as session:
        spec = load_event(session, slug)[1]
    timeline = {p.name: p for p in lifecycle.plan(spec, format_for(rt.settings, spec.format), now)}
    moved = []
    with get_client(sync_client=True) as client:
        for run in waiting_runs(slug):
            name = phase_of(run)
            phase = timeline.get(name) if name else None
            if phase is None:
                continue
            before = scheduled_time(run)
            if phase.status == lifecycle.PAST:
                client.set_flow_run_state(run.id, Cancelled(message=f"the event was moved: {name} has passed"))
                moved.append({"phase": name, "run": str(run.id), "from": _iso(before), "to": None})
            elif before is None or abs((before - phase.at).total_seconds()) >= 1:
                client.set_flow_run_state(run.id, Scheduled(scheduled_time=phase.at), force=True)
                moved.append({"phase": name, "run": str(run.id), "from": _iso(before), "to": phase.at.isoformat()})
    return moved


@task(name="cancel-phases", cache_policy=NO_CACHE, retries=2)
def cancel_phases(slug: str) -> list[dict[str, Any]]:
    """The event is cancelled: no phase run of it may start any more."""
    cancelled = []
    with get_client(sync_client=True) as client:
        for run in waiting_runs(slug):
            client.set_flow_run_state(run.id, Cancelled(message="the event was cancelled"), force=True)
            cancelled.append(
                {
                    "phase": phase_of(run) or run.name,
                    "run": str(run.id),
                    "from": _iso(scheduled_time(run)),
                    "to": None,
                }
            )
    return cancelled


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
