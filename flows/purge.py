"""purge-personal-data: delete an event's personal data once its retention has passed, keep the figures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from eventkit import runtime
from eventkit.privacy import retention


def _run_name() -> str:
    # a run the lifecycle scheduled keeps the name it was given there ("purge · <slug>")
    given = flow_run.name
    if given and given.startswith("purge · "):
        return str(given)
    return f"purge · {flow_run.parameters.get('slug') or 'all due events'}"


@task(name="purge-events", cache_policy=NO_CACHE)
def purge_events(slug: str | None, now: datetime | None, dry_run: bool) -> retention.PurgeReport:
    return retention.purge(runtime.get(), now, slug=slug, dry_run=dry_run)


@flow(name="purge-personal-data", flow_run_name=_run_name, log_prints=False)
def purge_personal_data(slug: str | None = None, now: datetime | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Purge the event `slug` if its retention has passed (slug None: every event that is due): registrations,
    answers, invitations, survey links, consent records and email contents go; the figures, the recap and a
    funded event's attendance record (until the funder retention ends) stay. A rerun finds nothing to do."""
    report = purge_events(slug, now, dry_run)
    totals = report.totals
    get_run_logger().info(
        "%d event(s) purged%s, %d not due: %d registrations deleted, %d kept for a funder, %d emails blanked, "
        "%d people deleted, %d anonymised",
        len([e for e in report.events if e.stage not in ("not due", "nothing left")]),
        " (dry run)" if dry_run else "",
        report.not_due,
        totals.get("registrations_deleted", 0),
        totals.get("registrations_kept_for_funder", 0),
        totals.get("emails_blanked", 0),
        totals.get("people_deleted", 0),
        totals.get("people_anonymised", 0),
    )
    key = slug or "all"
    create_markdown_artifact(
        key=f"purge-report-{key}",
        markdown=report.markdown(f"Purge of personal data · {slug or 'all due events'}"),
        description=f"What the retention purge deleted for {slug or 'all due events'} (counts only)",
    )
    return report.as_dict()
