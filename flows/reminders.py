"""send-reminder: put one of the format's reminders into the outbox for every registration, then deliver them."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from eventkit import runtime
from eventkit.reminders import reminders
from flows.relay import deliver_kinds, retry_on_deferral
from flows.tables import publish_registration_table


@task(name="enqueue-reminders", cache_policy=NO_CACHE)
def enqueue_reminders(slug: str, reminder: str) -> dict[str, int]:
    return reminders.enqueue_reminders(runtime.get(), slug, reminder)


@task(
    name="deliver-reminders",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[30, 120, 600],
    retry_condition_fn=retry_on_deferral,
)
def deliver_reminders(slug: str) -> dict[str, int]:
    return deliver_kinds(slug, list(reminders.KINDS), "reminders")


def _report(slug: str, reminder: str, enqueued: dict[str, int], delivered: dict[str, int]) -> str:
    lines = [f"# Reminder {reminder} · {slug}", ""]
    if enqueued["cancelled"]:
        lines.append("The event is cancelled: no reminders.")
    elif enqueued["started"]:
        lines.append("The event has begun: no reminders.")
    lines += [
        "",
        "| to registered | to the waiting list | scheduled earlier | sent | deferred | failed |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {enqueued['reminder']} | {enqueued['reminder-waitlisted']} | {enqueued['already']}"
        f" | {delivered['sent']} | {delivered['retry']} | {delivered['failed']} |",
    ]
    return "\n".join(lines) + "\n"


@flow(name="send-reminder", flow_run_name="reminder {reminder} · {slug}", log_prints=False)
def send_reminder(slug: str, reminder: str = "1d", retry_delays: list[float] | None = None) -> dict[str, int]:
    """Remind the registered people of what they need on the day, and tell the waiting list where it stands.

    A second run sends nobody the same reminder twice; it delivers what an earlier run left deferred.
    """
    logger = get_run_logger()
    enqueued = enqueue_reminders(slug, reminder)
    logger.info(
        "reminder %s: %d to registered people, %d to the waiting list, %d scheduled before",
        reminder,
        enqueued["reminder"],
        enqueued["reminder-waitlisted"],
        enqueued["already"],
    )
    deliver = deliver_reminders
    if retry_delays is not None:
        deliver = deliver_reminders.with_options(retry_delay_seconds=retry_delays)
    delivered = deliver(slug)
    create_markdown_artifact(
        key=f"reminder-report-{slug}",
        markdown=_report(slug, reminder, enqueued, delivered),
        description=f"Reminder {reminder} for {slug}: {delivered['sent']} sent, {delivered['failed']} failed",
    )
    publish_registration_table(slug)
    return {**enqueued, **delivered}
