"""The mail relay's limits, kept by all workers together: Prefect global concurrency limits per connection and message.

A small association's mail provider takes, say, 30 messages a minute and two connections at once. With
EVENTKIT_SMTP_RATE_LIMIT=30/minute and EVENTKIT_SMTP_CONNECTIONS=2 in the workers' environment, every
delivery in every worker takes a slot of `eventkit-smtp-connections` for its connection and one of
`eventkit-smtp-rate` (a rate limit: slots decay at 0.5 per second) before each message. The first run
creates both limits from these settings; afterwards the operator can change them on the Prefect UI's
Concurrency page, and what is set there counts.

Every delivering task of the flows sends through here (deliver_kinds): the same limits, the same claims
named by the flow run (flows/claims.py, which also takes over the claims of runs that ended), the same retry
on a deferral.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from prefect import get_client, get_run_logger
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.asyncio import rate_limit
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from eventkit import runtime
from eventkit.core.settings import Settings
from eventkit.invitations.invitations import TransientDeliveryError
from eventkit.mail import delivery
from eventkit.mail.transport import Throttle, Transport, transport_for
from eventkit.runtime import Runtime
from flows import claims

CONNECTIONS = "eventkit-smtp-connections"
RATE = "eventkit-smtp-rate"


def wanted_limits(settings: Settings) -> dict[str, tuple[int, float]]:
    """The global limits the settings ask for: name -> (slots, slot decay per second; 0 for a concurrency limit)."""
    limits: dict[str, tuple[int, float]] = {}
    if settings.smtp is None:
        return limits  # the mail directory has no limits to keep
    if settings.smtp_connections:
        limits[CONNECTIONS] = (settings.smtp_connections, 0.0)
    if settings.smtp_rate:
        count, seconds = settings.smtp_rate
        per_second = count / seconds
        # at most a second's worth at once: 30/minute is one message every two seconds, never a burst of 30
        limits[RATE] = (max(1, math.floor(per_second)), per_second)
    return limits


def ensure_limits(settings: Settings) -> dict[str, tuple[int, float]]:
    """Create the global limits the settings ask for, where the Prefect server has none of that name yet."""
    limits = wanted_limits(settings)
    if not limits:
        return limits
    with get_client(sync_client=True) as client:
        for name, (slots, decay) in limits.items():
            try:
                client.read_global_concurrency_limit_by_name(name)
                continue
            except ObjectNotFound:
                pass
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=slots, slot_decay_per_second=decay, active=True)
                )
            except ObjectAlreadyExists:
                continue  # another delivery made it first
    return limits


def retry_on_deferral(task, task_run, state) -> bool:  # type: ignore[no-untyped-def]
    """Only a deferral by the mail server is worth a retry of a delivering task; a bug or a bad template is not."""
    try:
        state.result()
    except TransientDeliveryError:
        return True
    except Exception:  # noqa: BLE001 - any other failure is final
        return False
    return False


async def _one_message() -> None:
    await rate_limit(RATE, occupy=1, strict=True)


@contextmanager
def relay(rt: Runtime) -> Iterator[Transport]:
    """A transport to the relay that keeps this process's and all workers' limits, for one delivery."""
    limits = ensure_limits(rt.settings)
    throttle: Throttle | None = _one_message if RATE in limits else None
    shared = concurrency(CONNECTIONS, occupy=1, strict=True) if CONNECTIONS in limits else nullcontext()
    with rt.smtp_slots, shared:
        yield transport_for(rt, throttle)


def deliver_kinds(slug: str, kinds: list[str], what: str) -> dict[str, int]:
    """The body of a flow's delivering task: send the event's emails of these kinds through the relay.

    Each recipient's outcome is recorded already when the relay defers some: the TransientDeliveryError
    makes Prefect retry the task (retry_on_deferral), and the retry sends only the deferred ones.
    """
    rt = runtime.get()
    dead = claims.dead(delivery.claimants(rt.store, slug=slug, kinds=kinds))
    with relay(rt) as transport:
        done = asyncio.run(
            delivery.deliver_pending(
                rt.store, transport, slug=slug, kinds=kinds, rt=rt, claimant=claims.claimant(), dead=dead
            )
        )
    get_run_logger().info("sent %d, deferred %d, failed %d", done.sent, done.retry, done.failed)
    if done.retry:
        total = done.sent + done.retry + done.failed
        raise TransientDeliveryError(f"{done.retry} of {total} {what} were deferred by the mail server")
    return done.as_dict()
