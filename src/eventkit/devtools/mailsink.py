"""A real local SMTP server (aiosmtpd) that keeps what it receives, for trying the SMTP path and for tests."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eventkit.core.errors import N_, UserError

try:
    from aiosmtpd.controller import Controller
except ImportError:  # a development extra, not a dependency of eventkit: MailSink says how to install it
    Controller = None  # type: ignore[assignment,misc]

if TYPE_CHECKING:
    from aiosmtpd.smtp import SMTP, Envelope, Session


class AiosmtpdMissing(UserError):
    """The mail sink runs on aiosmtpd, which only the development extra installs."""

    message = N_(
        "The mail sink needs aiosmtpd, which comes with eventkit's development extra. Install it with: "
        "pip install 'eventkit[dev]' (in a checkout of eventkit: pip install -e '.[dev]')."
    )


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    path: Path | None = None
    at: float = 0.0  # time.monotonic() when it arrived: what a relay's rate limit is about


@dataclass
class SinkHandler:
    """Accepts every message; with a directory, stores each as an .eml file."""

    directory: Path | None = None
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_message: Any = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        data = envelope.original_content or envelope.content or b""
        if isinstance(data, str):
            data = data.encode("utf-8")
        with self.lock:
            number = len(self.received) + 1
            path = None
            if self.directory is not None:
                self.directory.mkdir(parents=True, exist_ok=True)
                path = self.directory / f"{time.strftime('%Y%m%d-%H%M%S')}-{number:06d}.eml"
                path.write_bytes(data)
            item = Received(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], data, path, time.monotonic())
            self.received.append(item)
        if self.on_message is not None:
            self.on_message(item)
        return "250 Message accepted for delivery"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class MailSink:
    """Runs a handler in aiosmtpd on a loopback port: `with MailSink() as sink: ... sink.received`."""

    def __init__(
        self, handler: Any = None, *, host: str = "127.0.0.1", port: int | None = None, directory: Path | None = None
    ):
        if Controller is None:
            raise AiosmtpdMissing()
        self.handler = handler if handler is not None else SinkHandler(directory)
        self.host = host
        self.port = port or free_port(host)
        self.controller = Controller(
            self.handler,
            hostname=host,
            port=self.port,
            enable_SMTPUTF8=True,
            data_size_limit=50 * 1024 * 1024,
            ready_timeout=10,
        )

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}?starttls=off"

    @property
    def received(self) -> list[Received]:
        return list(getattr(self.handler, "received", []))

    def start(self) -> MailSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
