"""plan-series: the meetings of a series that come into range become events, and each gets its lifecycle."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from eventkit import runtime
from eventkit.mail import delivery
from eventkit.series import emails as series_emails
from eventkit.series import meetings as series_meetings
from eventkit.series import stored as series_stored
from flows.lifecycle import event_lifecycle
from flows.relay import relay

HORIZON_DAYS = 120


@task(name="create-meetings", cache_policy=NO_CACHE)
def create_meetings(slug: str, horizon_days: int, now: datetime | None) -> list[str]:
    return series_meetings.create_meetings(runtime.get(), slug, now=now, horizon=timedelta(days=horizon_days))


@task(name="meetings-to-plan", cache_policy=NO_CACHE)
def meetings_to_plan(slug: str, horizon_days: int, now: datetime | None) -> list[str]:
    return series_meetings.meetings_in_range(runtime.get(), slug, now=now, horizon=timedelta(days=horizon_days))


@task(name="mark-planned", cache_policy=NO_CACHE)
def mark_planned(slug: str, meetings: list[str]) -> None:
    series_stored.mark_planned(runtime.get().settings, slug, meetings)


@flow(name="plan-series", flow_run_name="series · {slug}", log_prints=False)
def plan_series(slug: str, horizon_days: int = HORIZON_DAYS, now: datetime | None = None) -> dict[str, Any]:
    """Create the meetings of the next `horizon_days` as events, then run each new one's lifecycle.

    Meant to run weekly. A second run creates nothing twice, and a meeting whose lifecycle ran is not run again;
    one whose lifecycle failed is tried again by the next run.
    """
    logger = get_run_logger()
    created = create_meetings(slug, horizon_days, now)
    planned: list[str] = []
    failed: list[str] = []
    for meeting in meetings_to_plan(slug, horizon_days, now):
        state = event_lifecycle(meeting, now, return_state=True)
        (failed if state.is_failed() else planned).append(meeting)
    if planned:
        mark_planned(slug, planned)
    logger.info("created %d meetings, ran the lifecycle of %d, %d failed", len(created), len(planned), len(failed))
    lines = [f"# Series · {slug}", "", "| meeting | created now | lifecycle |", "|---|---|---|"]
    lines += [
        f"| {m} | {'yes' if m in created else 'no'} | {'failed' if m in failed else 'run'} |" for m in planned + failed
    ]
    create_markdown_artifact(key=f"series-{slug}", markdown="\n".join(lines) + "\n", description=f"Series {slug}")
    if failed:
        raise RuntimeError(f"the lifecycle of {', '.join(failed)} failed; the next run tries again")
    return {"created": created, "planned": planned}


@flow(name="plan-all-series", flow_run_name="every series", log_prints=False)
def plan_all_series(horizon_days: int = HORIZON_DAYS, now: datetime | None = None) -> dict[str, Any]:
    """plan-series for every stored series whose meetings are not all past: the weekly run (prefect.yaml) that
    makes each meeting an event, and starts its lifecycle, as it comes into range. One series failing does
    not hold up the others; the run fails at the end if any did."""
    logger = get_run_logger()
    done: dict[str, Any] = {}
    failed = []
    for slug in series_stored.active_series(runtime.get().settings, now=now):
        state = plan_series(slug, horizon_days, now, return_state=True)
        if state.is_failed():
            failed.append(slug)
        else:
            done[slug] = state.result()
    logger.info("planned %d series, %d failed", len(done), len(failed))
    if failed:
        raise RuntimeError(f"plan-series failed for {', '.join(failed)}; the next run tries again")
    return done


@task(name="write-series-invitations", cache_policy=NO_CACHE)
def write_series_invitations(slug: str, now: datetime | None) -> int:
    return series_emails.enqueue_invitations(runtime.get(), slug, now=now)


@task(name="deliver-series-mail", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[30, 120])
def deliver_series_mail() -> dict[str, int]:
    rt = runtime.get()
    with relay(rt) as transport:
        done = asyncio.run(delivery.deliver_pending(rt.store, transport, kinds=series_emails.KINDS, rt=rt))
    return done.as_dict()


@flow(name="send-series-invitation", flow_run_name="series invitation · {slug}", log_prints=False)
def send_series_invitation(slug: str, now: datetime | None = None) -> dict[str, int]:
    """The series invitation (every meeting in one calendar) to each member who has not had it, then delivery."""
    written = write_series_invitations(slug, now)
    sent = deliver_series_mail()
    get_run_logger().info("%d series invitations written; sent %d, failed %d", written, sent["sent"], sent["failed"])
    return {"written": written, **sent}


@flow(name="send-series-mail", flow_run_name="series mail", log_prints=False)
def send_series_mail() -> dict[str, int]:
    """Deliver what waits of the series emails (updates written by `eventkit series update`)."""
    return deliver_series_mail()


def update_series(rt: runtime.Runtime, definition: Any) -> dict[str, Any]:
    """Store the changed series and carry it out (what `eventkit series update` does): the meetings that exist
    move or are cancelled, the members' calendars get the change, then each changed meeting's own update goes
    to its invitees and registrants (the event-changed flow).

    The series' mail goes before the meetings': a whole new series replaces its instances in calendars, and
    each meeting's update (whose SEQUENCE includes the series') then makes its instance the meeting's again.
    Returns the change, what was sent, the changed meetings, and the runs that failed (name, message).
    """
    from eventkit.events.changes import previous_of
    from flows.changes import event_changed

    change = series_stored.store_series(rt.settings, definition)
    meetings = series_meetings.apply_to_meetings(rt, change.slug, before=change.before)
    written = series_emails.enqueue_updates(rt, change)
    result: dict[str, Any] = {
        "slug": change.slug,
        "changed": change.changed,
        "sequence": change.sequence,
        "written": written,
        "sent": 0,
        "failed": 0,
        "meetings": [m.slug for m in meetings if m.action != "cancelled-before"],
        "stay_cancelled": [m.slug for m in meetings if m.action == "cancelled-before"],
        "failed_runs": [],
    }
    if written:
        state = send_series_mail(return_state=True)
        if state.is_failed():
            result["failed_runs"].append(("send-series-mail", state.message or ""))
            return result
        sent = state.result()
        result["sent"], result["failed"] = sent["sent"], sent["failed"]
    for meeting in meetings:
        if meeting.action == "cancelled-before":
            continue
        previous = previous_of(meeting.previous) if meeting.previous else None
        state = event_changed(meeting.slug, previous, return_state=True)
        if state.is_failed():
            result["failed_runs"].append(("event-changed", state.message or ""))
            return result
    return result
