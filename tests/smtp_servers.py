"""aiosmtpd handlers that misbehave the way real relays do: deferrals, refusals, dropped connections."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiosmtpd.smtp import SMTP, Envelope, Session

from eventkit.devtools.mailsink import SinkHandler


@dataclass
class DeferOnceHandler(SinkHandler):
    """451 for each recipient's first DATA, 250 from then on (greylisting, a busy relay)."""

    deferred: set[str] = field(default_factory=set)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        rcpt = envelope.rcpt_tos[0]
        if rcpt not in self.deferred:
            self.deferred.add(rcpt)
            return "451 4.7.1 Greylisted, please try again later"
        return await super().handle_DATA(server, session, envelope)


@dataclass
class RefuseHandler(SinkHandler):
    """550 for the listed recipients at RCPT, everyone else accepted."""

    refused: set[str] = field(default_factory=set)

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refused:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@dataclass
class DropHandler(SinkHandler):
    """Closes the connection at DATA for the first `drops` messages, without answering."""

    drops: int = 1
    dropped: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.dropped < self.drops:
            self.dropped += 1
            assert server.transport is not None
            server.transport.close()
            return "421 closing"
        return await super().handle_DATA(server, session, envelope)
