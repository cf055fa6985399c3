"""Transports: SMTP through aiosmtplib (one connection per batch), or .eml files in a directory."""

from __future__ import annotations

import asyncio
import itertools
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Protocol

import aiosmtplib

from eventkit.core.files import write_atomic
from eventkit.core.settings import SmtpConfig
from eventkit.mail.outbox import CONNECTION_FAILED, CONNECTION_REFUSED, DeliveryResult, Outgoing
from eventkit.runtime import Runtime, Slot

# a connection that drops mid-batch is opened again this often before the rest waits for a retry
RECONNECTS_PER_BATCH = 2


# waits until the relay may take one more message (a rate limit); shared by all of a process's deliveries
Throttle = Callable[[], Awaitable[None]]


class Pacer:
    """A rate limit for one process: messages at most `count` per `seconds`, evenly spaced.

    Workers under Prefect share one limit through a Prefect global concurrency limit instead (flows/relay.py);
    this is for the web app's own delivery and other runs outside Prefect.
    """

    def __init__(self, count: int, seconds: float):
        self.interval = seconds / count
        self._next = 0.0
        self._lock = threading.Lock()  # deliveries run in several threads, each with its own event loop

    async def __call__(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


# told each recipient's outcome as soon as it is known (the delivery records it at once)
OnResult = Callable[[DeliveryResult], None]


class Transport(Protocol):
    async def send(self, messages: Iterable[Outgoing], on_result: OnResult | None = None) -> list[DeliveryResult]: ...


class MailDirTransport:
    """The embedded default: each email an .eml file, written whole or not at all."""

    def __init__(self, directory: Path):
        self.directory = directory

    async def send(self, messages: Iterable[Outgoing], on_result: OnResult | None = None) -> list[DeliveryResult]:
        self.directory.mkdir(parents=True, exist_ok=True)
        results = []
        for msg in messages:
            # no fsync: the embedded default's mail folder is for trying things out, and an fsync per message
            # cost the registration benchmark a fifth of its SQLite p99 (the delivery runs beside the registrations)
            target = write_atomic(self.directory / f"{msg.name}.eml", msg.raw, durable=False)
            results.append(DeliveryResult(msg.id, "sent", str(target)))
            if on_result is not None:
                on_result(results[-1])
        return results


def _reply(exc: aiosmtplib.SMTPResponseException) -> str:
    return f"{exc.code} {exc.message}".strip()


class _Results(list[DeliveryResult]):
    """The outcomes of a send, each passed on to `on_result` as it is added."""

    def __init__(self, on_result: OnResult | None):
        super().__init__()
        self.on_result = on_result

    def append(self, result: DeliveryResult) -> None:
        super().append(result)
        if self.on_result is not None:
            self.on_result(result)

    def extend(self, results: Iterable[DeliveryResult]) -> None:
        for result in results:
            self.append(result)


class SmtpTransport:
    """Sends a batch over one reused connection; 4xx and dropped connections mean retry, 5xx means failed."""

    def __init__(self, config: SmtpConfig, throttle: Throttle | None = None):
        self.config = config
        self.throttle = throttle

    def _client(self) -> aiosmtplib.SMTP:
        c = self.config
        tls_context = ssl.create_default_context(cafile=c.cafile) if c.cafile else None
        return aiosmtplib.SMTP(
            tls_context=tls_context,
            hostname=c.host,
            port=c.port,
            username=c.username,
            password=c.password,
            use_tls=c.use_tls,
            start_tls=c.start_tls,
            timeout=c.timeout,
        )

    async def send(self, messages: Iterable[Outgoing], on_result: OnResult | None = None) -> list[DeliveryResult]:
        """Send messages as they come (a generator may fetch them lazily) over one connection; `on_result`
        hears of each recipient's outcome as soon as the relay has answered."""
        results = _Results(on_result)
        pending = iter(messages)
        current: Outgoing | None = None
        reconnects = 0
        while True:
            if current is None:
                current = next(pending, None)
                if current is None:
                    return results
            client = self._client()
            try:
                await client.connect()
            except (aiosmtplib.SMTPException, OSError) as exc:
                detail = f"{CONNECTION_FAILED} {exc}"
                if isinstance(exc, aiosmtplib.SMTPResponseException):
                    detail = f"{CONNECTION_REFUSED} {_reply(exc)}"
                results.extend(DeliveryResult(m.id, "retry", detail) for m in itertools.chain([current], pending))
                return results
            try:
                while current is not None:
                    if self.throttle is not None:
                        await self.throttle()
                    results.append(await self._send_one(client, current))
                    current = next(pending, None)
            except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, ConnectionError) as exc:
                # the message in flight may or may not have arrived; it is retried (at-least-once)
                assert current is not None
                results.append(DeliveryResult(current.id, "retry", f"connection lost: {exc}"))
                current = None
                reconnects += 1
                if reconnects > RECONNECTS_PER_BATCH:
                    results.extend(DeliveryResult(m.id, "retry", f"connection lost: {exc}") for m in pending)
                    return results
            finally:
                if client.is_connected:
                    try:
                        await client.quit()
                    except (aiosmtplib.SMTPException, OSError):
                        client.close()

    async def _send_one(self, client: aiosmtplib.SMTP, msg: Outgoing) -> DeliveryResult:
        options = ["SMTPUTF8"] if msg.smtputf8 else []
        try:
            await client.sendmail(msg.sender, [msg.recipient], msg.raw, mail_options=options)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0]
            status = "retry" if 400 <= refusal.code < 500 else "failed"
            return DeliveryResult(msg.id, status, _reply(refusal))
        except aiosmtplib.SMTPNotSupported as exc:
            return DeliveryResult(msg.id, "failed", f"the server cannot take this address: {exc}")
        except aiosmtplib.SMTPServerDisconnected:
            raise
        except aiosmtplib.SMTPResponseException as exc:
            status = "retry" if 400 <= exc.code < 500 else "failed"
            return DeliveryResult(msg.id, status, _reply(exc))
        return DeliveryResult(msg.id, "sent", None)


def _pacer(rt: Runtime) -> Pacer | None:
    rate = rt.settings.smtp_rate
    return Pacer(*rate) if rate is not None else None


# the runtime's pacer for EVENTKIT_SMTP_RATE_LIMIT, shared by its deliveries (like its smtp_slots)
_PACER: Slot[Pacer | None] = Slot("smtp pacer", _pacer)


def transport_for(rt: Runtime, throttle: Throttle | None = None) -> Transport:
    """The relay (throttled by `throttle`, else by the runtime's pacer if a rate is set) or the mail directory."""
    settings = rt.settings
    if settings.smtp is not None:
        return SmtpTransport(settings.smtp, throttle or rt.local(_PACER))
    return MailDirTransport(settings.mail_dir)
