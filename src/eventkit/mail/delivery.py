"""Delivery of what waits in the outbox (registration emails, and whatever a sweep finds left over).

Rows are claimed before they are sent (status `sending`, and who claimed them), so that two deliveries
running at once (the web app's and a Prefect flow run, or two workers) never send the same email twice.
A claim of an earlier attempt of the same flow run, or of a claimant the caller knows to be dead, is taken
over at once; any other only when it is older than outbox.CLAIM_LEASE. Each recipient's outcome is recorded
the moment the relay answers, so a delivery killed mid-way leaves at most the one message in flight
unrecorded (SMTP cannot tell whether it arrived: it is sent again, at least once). Invitations are left to
their own flow (which sends them in planned batches) unless `kinds` asks for them; only those a campaign left
waiting for a retry (deferred, or the relay could not be reached) go with any delivery, so the sweep sends them.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update

from eventkit import runtime
from eventkit.core.settings import Settings
from eventkit.db.store import Event, OutboxMessage, Store
from eventkit.mail import outbox
from eventkit.mail.kinds import render_pending
from eventkit.mail.outbox import DeliveryResult, Outgoing
from eventkit.mail.transport import Transport, transport_for
from eventkit.runtime import Runtime, Slot

CLAIM_SIZE = 50
# the web app's delivery process yields the CPU to the app's pages and registrations (emails can wait a moment)
CHILD_NICENESS = 10
# set when the command is interrupted (Ctrl-C): deliveries stop after the message in flight, since their
# threads never hear the signal themselves
STOPPING: Slot[threading.Event] = Slot("deliveries stopping", lambda rt: threading.Event())


@dataclass
class Delivered:
    sent: int = 0
    retry: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "retry": self.retry, "failed": self.failed}


def _due(started: datetime, now: datetime, claimant: str | None, dead: Collection[str]):  # type: ignore[no-untyped-def]
    return (
        (OutboxMessage.status == "pending")
        # a deferred email is tried again by the next delivery, not in a loop by this one
        | ((OutboxMessage.status == "retry") & (OutboxMessage.updated_at < started))
        | outbox.taken_over(now, claimant, dead)
    )


def _kinds(kinds: Sequence[str] | None):  # type: ignore[no-untyped-def]
    if kinds is not None:
        return OutboxMessage.kind.in_(kinds)
    # a campaign's queue is its own, but what it left waiting for a retry is for whichever delivery comes next
    return (OutboxMessage.kind != "invitation") | (OutboxMessage.status == "retry")


async def send_recorded(
    store: Store, transport: Transport, batch: Sequence[Outgoing], stop: threading.Event | None = None
) -> list[DeliveryResult]:
    """Send a claimed batch, recording each recipient's outcome as soon as the relay has answered (see the
    module's docstring); a row the transport did not report on (it stopped early, or `stop` was set) goes back
    to the queue."""
    messages = batch if stop is None else itertools.takewhile(lambda _: not stop.is_set(), batch)
    with store.engine.connect() as connection:
        # one connection for the batch, each outcome one UPDATE committed on its own (no BEGIN and COMMIT
        # around it: a round trip, not four with a checkout from the pool each time), in the store's write turn
        autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            # without waiting for the disk at each outcome (as SQLite's synchronous=NORMAL does not either): a
            # crash of the database server, not of this process, may forget the last moment's outcomes, and
            # those emails are sent again, which is what the message in flight risks anyway
            autocommit.exec_driver_sql("SET synchronous_commit TO off")

        def record(result: DeliveryResult) -> None:
            with store.write_turn():
                outbox.record(autocommit, [result])

        try:
            results = await transport.send(messages, on_result=record)
        finally:
            if postgres and not connection.invalidated:
                autocommit.exec_driver_sql("RESET synchronous_commit")  # the connection goes back to the pool
    reported = {r.id for r in results}
    missing = [m.id for m in batch if m.id not in reported]
    if missing:
        with store.writing() as connection:
            connection.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(missing), OutboxMessage.status == "sending")
                .values(status="pending")
            )
    return results


def claim(
    store: Store,
    *,
    rt: Runtime | None = None,
    slug: str | None = None,
    kinds: Sequence[str] | None = None,
    started: datetime,
    limit: int = CLAIM_SIZE,
    claimant: str | None = None,
    dead: Collection[str] = (),
) -> list[Outgoing]:
    """Take up to `limit` due rows for this delivery (oldest first) and return what to send."""
    now = datetime.now(UTC)
    with store.session(write_lock=True) as session:
        query = select(OutboxMessage.id).where(_due(started, now, claimant, dead), _kinds(kinds))
        if slug is not None:
            query = query.join(Event, Event.id == OutboxMessage.event_id).where(Event.slug == slug)
        query = query.order_by(OutboxMessage.id).limit(limit)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=OutboxMessage)
        ids = list(session.scalars(query))
        if not ids:
            return []
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(status="sending", updated_at=now, claimed_by=claimant)
        )
    # rendered now, outside the claim's lock: registration emails are stored unrendered (see eventkit.mail.kinds)
    render_pending(rt or runtime.get(), ids)
    with store.session() as session:
        return outbox.sendable(session, ids, statuses=("sending",))


async def deliver_pending(
    store: Store,
    transport: Transport,
    *,
    slug: str | None = None,
    kinds: Sequence[str] | None = None,
    max_messages: int | None = None,
    rt: Runtime | None = None,
    claimant: str | None = None,
    dead: Collection[str] = (),
) -> Delivered:
    """Send every due email (of one event, or all); each recipient's outcome is recorded as it comes.

    `claimant` names this delivery (a Prefect flow run and where it runs): a retry of the same run takes over
    its claims, and this delivery takes over those of the claimants in `dead`.
    """
    started = datetime.now(UTC)
    done = Delivered()
    while max_messages is None or done.sent + done.retry + done.failed < max_messages:
        batch = claim(store, rt=rt, slug=slug, kinds=kinds, started=started, claimant=claimant, dead=dead)
        if not batch:
            break
        last_round = len(batch) < CLAIM_SIZE  # nothing more was due when this batch was claimed
        results = await send_recorded(store, transport, batch)
        for r in results:
            setattr(done, r.status, getattr(done, r.status) + 1)
        if any(r.status == "retry" for r in results) and not any(r.status == "sent" for r in results):
            break  # the relay defers everything right now: the next sweep tries again
        if last_round:
            break  # what came in meanwhile has woken the caller, who delivers it next
    return done


def claimants(store: Store, *, slug: str | None = None, kinds: Sequence[str] | None = None) -> set[str]:
    """Who holds claims on the emails a delivery of this scope would send (to ask whether they still live)."""
    with store.session() as session:
        event_id = session.scalar(select(Event.id).where(Event.slug == slug)) if slug is not None else None
        if slug is not None and event_id is None:
            return set()
        return outbox.claimants(session, event_id=event_id, kinds=kinds)


def waiting(store: Store, *, slug: str | None = None) -> int:
    """Emails (other than invitations) still to be sent."""
    with store.session() as session:
        query = (
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status.in_(("pending", "retry", "sending")), OutboxMessage.kind != "invitation")
        )
        if slug is not None:
            query = query.join(Event, Event.id == OutboxMessage.event_id).where(Event.slug == slug)
        return session.scalar(query) or 0


# what a sweep does before it delivers, registered by the features (registration: unconfirmed requests lapse)
_sweeps: list[Callable[[Runtime], object]] = []


def on_sweep(hook: Callable[[Runtime], object]) -> None:
    """Run `hook` at the start of every sweep of deliver_once (once, however often it is registered)."""
    if hook not in _sweeps:
        _sweeps.append(hook)


def sweep_hooks() -> tuple[Callable[[Runtime], object], ...]:
    return tuple(_sweeps)


def deliver_once(rt: Runtime, sweep: bool = False) -> dict[str, int]:
    """One delivery of what waits in the outbox, for the web app's inline mode (and, on a sweep, what the
    features registered with on_sweep first)."""
    if sweep:
        for hook in _sweeps:
            hook(rt)
    transport = transport_for(rt)
    with rt.smtp_slots:
        return asyncio.run(deliver_pending(rt.store, transport, rt=rt)).as_dict()


def child_start(settings: Settings) -> None:
    """In the web app's delivery process (a child it spawns): the process's runtime, from the app's settings."""
    os.nice(CHILD_NICENESS)
    runtime.configure(settings, migrate_schema=False)  # the app migrated the schema before it started


def child_deliver(sweep: bool) -> tuple[int, dict[str, int]]:
    """deliver_once in the delivery process (after child_start): the process id and what was delivered."""
    return os.getpid(), deliver_once(runtime.get(), sweep)
