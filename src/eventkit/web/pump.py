"""Getting the web app's emails delivered: in this process (embedded default) or by a Prefect flow run.

inline: a background task of the app delivers as soon as a registration has put an email into the outbox,
        and sweeps every SWEEP_SECONDS (what a failed attempt left, expired opt-ins). The delivery itself
        (rendering, MIME, SMTP) runs in one child process of the app, with the same code as the delivery
        flow: the app's own interpreter stays free for pages and registrations, and the emails use the
        machine's other core. With an in-memory SQLite database, which a child cannot see, it runs in a
        thread of the app.
prefect: the app emits the Prefect event `eventkit.outbox.pending` (at most one per event every
        EMIT_SECONDS); the `deliver-outbox` deployment's trigger in prefect.yaml runs the delivery flow, and
        its schedule is the sweep. Nothing is lost when no worker runs: the emails wait in the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from typing import Any

import eventkit.features  # noqa: F401 - every feature registers its email kinds before the app delivers
from eventkit.mail import delivery
from eventkit.runtime import Runtime

log = logging.getLogger("eventkit.web")

SWEEP_SECONDS = 60.0
GATHER_SECONDS = 0.5
EMIT_SECONDS = 5.0
EVENT_NAME = "eventkit.outbox.pending"


class Pump:
    def __init__(self, rt: Runtime, mode: str):
        self.rt = rt
        self.mode = mode
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._slugs: set[str] = set()
        self._last_emit: dict[str, float] = {}
        self._pool: ProcessPoolExecutor | None = None
        self.delivered = delivery.Delivered()
        self.delivered_by: int | None = None  # the process id of the delivery process (or of the last delivery)
        # inline delivery runs in a child process, except for an in-memory database (a child would have its own)
        self.in_child = mode == "inline" and not rt.store.in_memory

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self.in_child:
            try:
                await self._child_pool()  # up before the first request: its start would hold registrations up
            except Exception:  # noqa: BLE001 - the first delivery tries again; the emails wait meanwhile
                log.exception("the delivery process did not start; the first delivery tries again")
        self._task = asyncio.create_task(self._run(), name="eventkit-delivery")
        self.notify(None)  # whatever waited while the app was down

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._pool is not None:
            # a delivery under way finishes (its emails are claimed); nothing new starts
            await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)
            self._pool = None

    def notify(self, slug: str | None) -> None:
        """Called (from any thread) after a transaction that put emails into the outbox has committed."""
        if slug:
            self._slugs.add(slug)
        if self._loop is not None and self._wake is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=SWEEP_SECONDS)
                swept = False
            except TimeoutError:
                swept = True
            self._wake.clear()
            if not swept:
                # gather what the next moment brings: one delivery for a burst of registrations, not one each
                await asyncio.sleep(GATHER_SECONDS)
                self._wake.clear()
            try:
                if self.mode == "prefect":
                    await self._emit()
                elif self.in_child:
                    await self._deliver_in_child(swept)
                else:
                    await asyncio.to_thread(self._deliver, swept)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the next wake-up or sweep tries again; the emails wait
                log.exception("delivery of waiting emails failed; they stay in the outbox")

    def _deliver(self, sweep: bool) -> None:
        self._slugs.clear()
        self.delivered_by = os.getpid()
        self._count(delivery.deliver_once(self.rt, sweep))

    async def _child_pool(self) -> ProcessPoolExecutor:
        """The delivery process, started (and its runtime built) if it is not running."""
        if self._pool is None:
            pool = ProcessPoolExecutor(
                1, mp_context=_process_context(), initializer=delivery.child_start, initargs=(self.rt.settings,)
            )
            # submit() starts the process and waits for the fork server (a second, the first time): in a thread,
            # so that the app's event loop goes on answering meanwhile
            try:
                self.delivered_by = await asyncio.wrap_future(await asyncio.to_thread(pool.submit, os.getpid))
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            self._pool = pool
        return self._pool

    async def _deliver_in_child(self, sweep: bool) -> None:
        self._slugs.clear()
        pool = await self._child_pool()
        try:
            self.delivered_by, done = await asyncio.wrap_future(pool.submit(delivery.child_deliver, sweep))
        except BrokenExecutor:
            # the child died (killed, out of memory): the next wake-up starts a new one; claimed emails are
            # taken over when their claim's lease ends
            self._pool = None
            raise
        self._count(done)

    def _count(self, done: dict[str, int]) -> None:
        for key, value in done.items():
            setattr(self.delivered, key, getattr(self.delivered, key) + value)

    async def _emit(self) -> None:
        from prefect.events import emit_event  # only this mode needs prefect in the web app

        now = time.monotonic()
        for slug in list(self._slugs):
            wait = self._last_emit.get(slug, 0.0) + EMIT_SECONDS - now
            if wait > 0:
                assert self._loop is not None
                self._loop.call_later(wait, self.notify, None)
                continue
            self._slugs.discard(slug)
            self._last_emit[slug] = now
            payload: dict[str, Any] = {"slug": slug}
            await asyncio.to_thread(
                emit_event,
                event=EVENT_NAME,
                resource={"prefect.resource.id": f"eventkit.event.{slug}", "prefect.resource.name": slug},
                payload=payload,
            )


def _process_context() -> multiprocessing.context.BaseContext:
    """Where the delivery process comes from: not a fork of the app (it has threads and open connections),
    but a fork of multiprocessing's fork server, a fresh interpreter that has imported the delivery code
    once; starting a delivery process then takes milliseconds, not the second a new interpreter needs."""
    context = multiprocessing.get_context("forkserver")
    # eventkit.features: the delivery process renders every feature's emails (their kinds register on import)
    context.set_forkserver_preload(["eventkit.features", "eventkit.mail.delivery"])
    return context
