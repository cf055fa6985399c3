"""Getting the web app's emails delivered: in this process (embedded default) or by a Prefect flow run.

inline: a background task of the app delivers as soon as a registration has put an email into the outbox,
        and sweeps every SWEEP_SECONDS (what a failed attempt left, expired opt-ins).
prefect: the app emits the Prefect event `eventkit.outbox.pending` (at most one per event every
        EMIT_SECONDS); the `deliver-outbox` deployment's trigger in prefect.yaml runs the delivery flow, and
        its schedule is the sweep. Nothing is lost when no worker runs: the emails wait in the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from eventkit import delivery, registrations
from eventkit.runtime import Runtime
from eventkit.transport import transport_for

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
        self.delivered = delivery.Delivered()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="eventkit-delivery")
        self.notify(None)  # whatever waited while the app was down

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

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
                else:
                    await asyncio.to_thread(self._deliver, swept)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the next wake-up or sweep tries again; the emails wait
                log.exception("delivery of waiting emails failed; they stay in the outbox")

    def _deliver(self, sweep: bool) -> None:
        self._slugs.clear()
        if sweep:
            registrations.expire_pending(self.rt)
        transport = transport_for(self.rt.settings)
        with self.rt.smtp_slots:
            done = asyncio.run(delivery.deliver_pending(self.rt.store, transport, rt=self.rt))
        for key, value in done.as_dict().items():
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
