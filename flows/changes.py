"""event-changed: tell everyone of a new time or place (or of the cancellation), and move (or cancel) the phase runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_client, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.runtime import flow_run

from eventkit import runtime
from eventkit.events import changes
from eventkit.events.events import format_for, load_event
from eventkit.model import lifecycle
from flows.lifecycle import cancel_phases, move_phases, phase_of, schedule_phase
from flows.relay import deliver_kinds, retry_on_deferral


def _run_name() -> str:
    return f"change · {flow_run.parameters.get('slug')}"


@task(name="write-change-emails", cache_policy=NO_CACHE)
def write_change_emails(slug: str, previous: dict[str, Any] | None) -> dict[str, int]:
    return changes.enqueue_change(runtime.get(), slug, previous)


@task(
    name="deliver-change-emails",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[30, 120, 600],
    retry_condition_fn=retry_on_deferral,
)
def deliver_change_emails(slug: str) -> dict[str, int]:
    return deliver_kinds(slug, list(changes.KINDS), "change emails")


def _lifecycle_started(slug: str) -> bool:
    """Whether the lifecycle scheduled phase runs for this event (then a change schedules what became due)."""
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"event:{slug}"])))
    return any(phase_of(run) for run in runs)


def _report(slug: str, status: str, written: dict[str, int], sent: dict[str, int], runs: list[dict[str, Any]]) -> str:
    title = "Cancellation" if status == "cancelled" else "Change"
    lines = [
        f"# {title} · {slug} (calendar sequence {written['sequence']})",
        "",
        "| emails written | with calendar | written before | sent | deferred | failed |",
        "|---|---|---|---|---|---|",
        f"| {written['emails']} | {written['with_calendar']} | {written['already']}"
        f" | {sent['sent']} | {sent['retry']} | {sent['failed']} |",
        "",
    ]
    if runs:
        lines += ["| phase | flow run | was | now |", "|---|---|---|---|"]
        lines += [f"| {r['phase']} | {r['run']} | {r['from'] or '–'} | {r['to'] or 'cancelled'} |" for r in runs]
    else:
        lines.append("No phase run was waiting.")
    return "\n".join(lines) + "\n"


@flow(name="event-changed", flow_run_name=_run_name, log_prints=False)
def event_changed(slug: str, previous: dict[str, Any] | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Send the update (same UID, SEQUENCE + 1) or the cancellation to everyone invited or registered, and
    move the event's scheduled phase runs to their new times (or cancel them with the event).

    `previous` is the event as it was (time, place, title), for the emails to say what changed. A rerun
    sends nothing twice: each email is keyed by the event's calendar sequence.
    """
    logger = get_run_logger()
    rt = runtime.get()
    with rt.store.session() as session:
        event, spec = load_event(session, slug)
        status, sequence = event.status, event.sequence
    if status == "cancelled":
        runs = cancel_phases(slug)
    else:
        runs = move_phases(slug, now)
        if _lifecycle_started(slug):
            # a phase whose time had passed may lie ahead again: schedule it as the lifecycle would
            tags = [f"event:{slug}", f"format:{spec.format}"]
            for phase in lifecycle.plan(spec, format_for(rt.settings, spec.format), now):
                if phase.status == lifecycle.PLANNED:
                    made = schedule_phase(slug, phase.as_dict(), sequence, tags)
                    if made.get("created"):
                        runs.append(
                            {
                                "phase": phase.name,
                                "run": made["flow_run_id"],
                                "from": None,
                                "to": made["scheduled_time"],
                            }
                        )
    written = write_change_emails(slug, previous)
    sent = deliver_change_emails(slug)
    logger.info(
        "%s: %d emails written (%d with calendar), %d sent",
        status,
        written["emails"],
        written["with_calendar"],
        sent["sent"],
    )
    create_markdown_artifact(
        key=f"change-{slug}",
        markdown=_report(slug, status, written, sent, runs),
        description=f"What {slug}'s change told whom, and which phase runs moved",
    )
    return {"status": status, "written": written, "sent": sent, "runs": runs}
