"""send-invitations: store the invitee list, make one personal invitation per invitee, deliver in batches.

On a worker, a batch the relay defers is retried with back-off (30 s, 2 min, 10 min, 30 min). From the command
line (retry_deferred=False) the run does not wait: what the relay defers or cannot take stays queued for the
next run or the delivery sweep, and the run ends at once with the counts. Invitations claimed by a run that
ended (crashed, killed, cancelled) are taken over at once (flows/claims.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait
from prefect.task_runners import ThreadPoolTaskRunner
from sqlalchemy.exc import IntegrityError

from eventkit import runtime
from eventkit.invitations import invitations
from eventkit.mail import delivery
from eventkit.mail.reports import delivery_markdown
from eventkit.model.invitees import read_invitees
from flows import claims
from flows.relay import relay, retry_on_deferral


@task(name="import-invitees", cache_policy=NO_CACHE)
def import_invitees(slug: str, invitees_csv: str) -> dict[str, int]:
    rt = runtime.get()
    summary = invitations.import_invitees(rt.store, slug, read_invitees(Path(invitees_csv)))
    return vars(summary)


@task(name="plan-batches", cache_policy=NO_CACHE)
def plan_batches(slug: str, dead: list[str]) -> list[tuple[int, int]]:
    rt = runtime.get()
    return invitations.plan_batches(rt.store, slug, rt.settings.batch_size, dead)


def _made_meanwhile(task, task_run, state) -> bool:  # type: ignore[no-untyped-def]
    """Another run of the same campaign made some of this batch's emails at the same moment (their keys are
    unique): trying again finds them made and makes the rest."""
    try:
        state.result()
    except IntegrityError:
        return True
    except Exception:  # noqa: BLE001 - anything else is final
        return False
    return False


@task(
    name="prepare-batch",
    task_run_name="prepare {first}–{last}",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=1,
    retry_condition_fn=_made_meanwhile,
)
def prepare_batch(slug: str, first: int, last: int) -> int:
    rt = runtime.get()
    return invitations.prepare_batch(rt.store, rt.settings, rt.renderer, slug, first, last)


@task(
    name="deliver-batch",
    task_run_name="deliver {first}–{last}",
    cache_policy=NO_CACHE,
    retries=4,
    retry_delay_seconds=[30, 120, 600, 1800],
    retry_condition_fn=retry_on_deferral,
)
def deliver_batch(slug: str, first: int, last: int, dead: list[str], retry: bool = True) -> dict[str, int]:
    rt = runtime.get()
    with relay(rt) as transport:
        counts = asyncio.run(
            invitations.deliver_batch(
                rt.store, transport, slug, first, last, claims.claimant(), dead, rt.local(delivery.STOPPING)
            )
        )
    if counts["retry"] and retry:
        raise invitations.TransientDeliveryError(
            f"{counts['retry']} of {sum(counts.values())} messages were deferred by the mail server; "
            "they will be retried"
        )
    return counts


@flow(
    name="send-invitations",
    flow_run_name="invitations · {slug}",
    task_runner=ThreadPoolTaskRunner(max_workers=4),  # type: ignore[arg-type]
    log_prints=False,
)
def send_invitations(
    slug: str, invitees_csv: str | None = None, retry_delays: list[float] | None = None, retry_deferred: bool = True
) -> dict[str, int]:
    """Import invitees (optional), then make and deliver every invitation not sent yet; report the outcome.

    retry_deferred=False (the command line): no retries; what is not sent stays queued and is counted.
    """
    logger = get_run_logger()
    skipped = 0
    if invitees_csv:
        summary = import_invitees(slug, invitees_csv)
        logger.info(
            "invitee list: %(invited)s new invitations, %(already_invited)s already invited, "
            "%(unsubscribed)s skipped: unsubscribed",
            summary,
        )
        skipped = summary.get("unsubscribed", 0)
    deliver = deliver_batch
    if not retry_deferred:
        deliver = deliver_batch.with_options(retries=0)
    elif retry_delays is not None:
        deliver = deliver_batch.with_options(retry_delay_seconds=retry_delays)
    rt = runtime.get()
    dead = sorted(claims.dead(invitations.claimants(rt.store, slug)))
    if dead:
        logger.info("taking over the invitations claimed by %d runs that ended", len(dead))
    batches = plan_batches(slug, dead)
    logger.info("%d batches to make or send", len(batches))
    deliveries = []
    for first, last in batches:
        prepared = prepare_batch.submit(slug, first, last)
        deliveries.append(
            deliver.submit(slug, first, last, dead, retry_deferred, wait_for=[prepared])  # type: ignore[call-overload]
        )
    wait(deliveries)
    report = invitations.delivery_report(rt.store, slug)
    markdown = delivery_markdown(slug, "invitation", report, personal=rt.settings.debug_personal_data)
    create_markdown_artifact(
        key=f"delivery-report-{slug}",
        markdown=markdown + (f"\nskipped: unsubscribed: {skipped}\n" if skipped else ""),
        description=f"Invitations for {slug}: {report.sent} sent, {report.failed} failed, {report.waiting} waiting",
    )
    logger.info(
        "sent %d, retried %d, failed %d, waiting %d", report.sent, report.retried, report.failed, report.waiting
    )
    if report.in_flight:
        # this run's own claims were all settled above: these are another run's, sending right now
        logger.info("%d invitations are being sent by another run of this campaign", report.in_flight)
    if report.waiting and retry_deferred:
        # the run shows as failed so that an operator retries it; the retry sends only what is still waiting
        raise invitations.TransientDeliveryError(f"{report.waiting} invitations still deferred after all retries")
    for future in deliveries:
        future.result()  # a batch that failed for another reason (a template error, say) fails the run with it
    if report.waiting:
        why = report.unreachable or "deferred by the mail server"
        logger.warning("%d invitations stay queued for the next run or the delivery sweep: %s", report.waiting, why)
    return report.as_dict()
