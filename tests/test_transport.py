"""The SMTP transport against real aiosmtpd servers on 127.0.0.1, including ones that misbehave."""

from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import UTC, datetime
from pathlib import Path

import pytest

from eventkit.core.settings import SmtpConfig
from eventkit.devtools.mailsink import MailSink, SinkHandler
from eventkit.mail.mime import Message
from eventkit.mail.outbox import Outgoing
from eventkit.mail.transport import MailDirTransport, SmtpTransport
from tests.smtp_servers import DeferOnceHandler, DropHandler, RefuseHandler


def outgoing(n: int, recipient: str | None = None, name: str = "Дмитрий Иванов") -> Outgoing:
    rcpt = recipient or f"person{n}@example.org"
    raw, utf8 = Message(
        sender=("Verein", "noreply@events.example.org"),
        to=(name, rcpt),
        subject=f"Nachricht {n} – Grüße",
        text="Hallo!\n.\nEine Zeile mit nur einem Punkt darüber.\n",
        html=None,
        message_id=f"<m{n}@events.example.org>",
        date=datetime(2026, 11, 23, tzinfo=UTC),
    ).build()
    return Outgoing(n, "noreply@events.example.org", rcpt, raw, utf8, f"test-{n}")


def send(handler: SinkHandler, messages: list[Outgoing]) -> tuple[list, MailSink]:  # type: ignore[type-arg]
    with MailSink(handler) as sink:
        results = asyncio.run(SmtpTransport(SmtpConfig.from_url(sink.url)).send(messages))
    return results, sink


def test_all_messages_arrive_intact_over_one_connection() -> None:
    handler = SinkHandler()
    sessions: list[object] = []
    original = handler.handle_DATA

    async def counting(server, session, envelope):  # type: ignore[no-untyped-def]
        sessions.append(session)
        return await original(server, session, envelope)

    handler.handle_DATA = counting  # type: ignore[method-assign]
    results, _ = send(handler, [outgoing(i) for i in range(1, 6)])
    assert [r.status for r in results] == ["sent"] * 5
    assert len({id(s) for s in sessions}) == 1  # one connection reused for the batch
    received = email.message_from_bytes(handler.received[0].data, policy=email.policy.default)
    assert received["To"].addresses[0].display_name == "Дмитрий Иванов"
    body = received.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert body == "Hallo!\n.\nEine Zeile mit nur einem Punkt darüber.\n"  # dot-stuffing undone by the server


def test_451_is_a_retry_and_the_next_attempt_succeeds() -> None:
    handler = DeferOnceHandler()
    with MailSink(handler) as sink:
        transport = SmtpTransport(SmtpConfig.from_url(sink.url))
        first = asyncio.run(transport.send([outgoing(1), outgoing(2)]))
        assert [r.status for r in first] == ["retry", "retry"]
        assert first[0].detail is not None and first[0].detail.startswith("451")
        second = asyncio.run(transport.send([outgoing(1), outgoing(2)]))
    assert [r.status for r in second] == ["sent", "sent"]
    assert len(handler.received) == 2


def test_550_fails_one_recipient_with_the_servers_reply_and_the_rest_go_through() -> None:
    handler = RefuseHandler(refused={"nobody@example.org"})
    results, _ = send(handler, [outgoing(1), outgoing(2, "nobody@example.org"), outgoing(3)])
    assert [r.status for r in results] == ["sent", "failed", "sent"]
    assert results[1].detail is not None
    assert results[1].detail.startswith("550") and "User unknown" in results[1].detail
    assert sorted(r.rcpt_tos[0] for r in handler.received) == ["person1@example.org", "person3@example.org"]


def test_dropped_connection_defers_the_message_in_flight_and_reconnects_for_the_rest() -> None:
    handler = DropHandler(drops=1)
    results, _ = send(handler, [outgoing(1), outgoing(2), outgoing(3)])
    assert [r.status for r in results] == ["retry", "sent", "sent"]
    assert [r.rcpt_tos[0] for r in handler.received] == ["person2@example.org", "person3@example.org"]


def test_unreachable_server_defers_everything() -> None:
    from eventkit.devtools.mailsink import free_port

    config = SmtpConfig.from_url(f"smtp://127.0.0.1:{free_port()}?starttls=off&timeout=2")
    results = asyncio.run(SmtpTransport(config).send([outgoing(1), outgoing(2)]))
    assert [r.status for r in results] == ["retry", "retry"]
    assert results[0].detail is not None and "connection failed" in results[0].detail


def test_smtputf8_for_a_non_ascii_local_part() -> None:
    handler = SinkHandler()
    results, _ = send(handler, [outgoing(1, "jürgen@example.org", "Jürgen")])
    assert results[0].status == "sent"
    assert handler.received[0].rcpt_tos == ["jürgen@example.org"]


def test_mail_dir_writes_whole_files(tmp_path: Path) -> None:
    results = asyncio.run(MailDirTransport(tmp_path / "mail").send([outgoing(1), outgoing(2)]))
    assert [r.status for r in results] == ["sent", "sent"]
    files = sorted((tmp_path / "mail").iterdir())
    assert [f.name for f in files] == ["test-1.eml", "test-2.eml"]
    assert (
        email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)["Message-ID"]
        == "<m1@events.example.org>"
    )


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class _TlsAuthSink(MailSink):
    """aiosmtpd with STARTTLS required before AUTH, or with TLS from the first byte (smtps)."""

    def __init__(self, cert: Path, key: Path, implicit_tls: bool):
        import ssl

        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        super().__init__()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)

        def authenticator(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
            ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
                b"verein@example.org",
                b"geheim:passwort",
            )
            return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

        common = dict(hostname="127.0.0.1", port=self.port, authenticator=authenticator, auth_required=True)
        if implicit_tls:
            # the whole connection is TLS; aiosmtpd only knows that of STARTTLS, so it is told not to insist
            self.controller = Controller(  # type: ignore[arg-type]
                self.handler, ssl_context=context, auth_require_tls=False, **common
            )
        else:
            self.controller = Controller(  # type: ignore[arg-type]
                self.handler, tls_context=context, require_starttls=True, auth_require_tls=True, **common
            )


def test_starttls_and_login(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    with _TlsAuthSink(cert, key, implicit_tls=False) as sink:
        url = f"smtp://verein%40example.org:geheim%3Apasswort@127.0.0.1:{sink.port}?starttls=required&cafile={cert}"
        results = asyncio.run(SmtpTransport(SmtpConfig.from_url(url)).send([outgoing(1)]))
        assert [r.status for r in results] == ["sent"]
        bad = url.replace("geheim", "falsch")
        refused = asyncio.run(SmtpTransport(SmtpConfig.from_url(bad)).send([outgoing(2)]))
    assert refused[0].status == "retry" and "535" in (refused[0].detail or "")
    assert len(sink.received) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_implicit_tls_smtps(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    with _TlsAuthSink(cert, key, implicit_tls=True) as sink:
        url = f"smtps://verein%40example.org:geheim%3Apasswort@127.0.0.1:{sink.port}?cafile={cert}"
        results = asyncio.run(SmtpTransport(SmtpConfig.from_url(url)).send([outgoing(1)]))
    assert [r.status for r in results] == ["sent"]
    assert len(sink.received) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    with _TlsAuthSink(cert, key, implicit_tls=True) as sink:
        url = f"smtps://verein%40example.org:geheim%3Apasswort@127.0.0.1:{sink.port}?timeout=5"
        results = asyncio.run(SmtpTransport(SmtpConfig.from_url(url)).send([outgoing(1)]))
    assert results[0].status == "retry" and "CERTIFICATE_VERIFY_FAILED" in (results[0].detail or "")
    assert sink.received == []
