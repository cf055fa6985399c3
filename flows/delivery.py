"""deliver-outbox: send the registration emails waiting in the outbox (one event's, or on a sweep everyone's)."""

from __future__ import annotations

import asyncio

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from eventkit import runtime
from eventkit.invitations.invitations import TransientDeliveryError
from eventkit.mail import delivery
from eventkit.registration import optin
from flows import claims
from flows.relay import relay, retry_on_deferral
from flows.tables import publish_registration_table


def _run_name() -> str:
    # a run the lifecycle scheduled keeps the name it was given there ("registration close · <slug>")
    given = flow_run.name
    if given and given.startswith("registration close · "):
        return str(given)
    return f"deliver · {flow_run.parameters.get('slug') or 'sweep'}"


@task(name="expire-requests", cache_policy=NO_CACHE)
def expire_requests() -> int:
    return optin.expire_pending(runtime.get())


# Short delays on purpose: a run that sleeps holds one of the deployment's concurrency slots, and the
# confirmations behind it must not wait for a greylisting relay. What is still deferred after these
# retries stays in the outbox (status retry) for the next sweep.
@task(
    name="deliver-pending",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[10, 30],
    retry_condition_fn=retry_on_deferral,
)
def deliver_pending(slug: str | None) -> dict[str, int]:
    rt = runtime.get()
    dead = claims.dead(delivery.claimants(rt.store, slug=slug))
    with relay(rt) as transport:
        done = asyncio.run(
            delivery.deliver_pending(rt.store, transport, slug=slug, claimant=claims.claimant(), dead=dead)
        )
    get_run_logger().info("sent %d, deferred %d, failed %d", done.sent, done.retry, done.failed)
    if done.retry:
        # the outcome of each recipient is recorded already; a retry sends only the deferred ones
        total = done.sent + done.retry + done.failed
        raise TransientDeliveryError(
            f"{done.retry} of {total} emails were deferred by the mail server; they will be retried"
        )
    return done.as_dict()


@flow(name="deliver-outbox", flow_run_name=_run_name, log_prints=False)
def deliver_outbox(slug: str | None = None, retry_delays: list[float] | None = None) -> dict[str, int]:
    """Send what waits in the outbox for one event (run by the web app's event) or for all (the sweep).

    A sweep first lets unconfirmed registration requests lapse, then sends whatever earlier runs left
    (deferred emails, or emails put into the outbox while no worker was up).
    """
    logger = get_run_logger()
    expired = 0
    if slug is None:
        expired = expire_requests()
        logger.info("%d unconfirmed registration requests expired", expired)
    deliver = deliver_pending
    if retry_delays is not None:
        deliver = deliver_pending.with_options(retry_delay_seconds=retry_delays)
    counts = deliver(slug)
    waiting = delivery.waiting(runtime.get().store, slug=slug)
    logger.info("delivered: sent %(sent)d, failed %(failed)d", counts)
    if slug is not None and flow_run.name and str(flow_run.name).startswith("registration close · "):
        publish_registration_table(slug)  # the figures at the close of registration, for the preparation
    return {**counts, "expired": expired, "waiting": waiting}
