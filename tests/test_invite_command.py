"""`eventkit invite` as an organiser runs it on the embedded default: a relay that is down, claims of another run.

From the command line nothing waits for the retries with back-off that runs on a worker make: what the relay
defers or cannot take stays queued (for the next run, or the delivery sweep), the command says so and how
many wait, and exits non-zero. The summary line counts everything not sent yet, whoever holds it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select, update

from eventkit.core.settings import PROJECT_ROOT, Settings, SmtpConfig
from eventkit.db.store import OutboxMessage
from eventkit.devtools.mailsink import MailSink, free_port
from eventkit.events.events import save_event
from eventkit.invitations import invitations
from eventkit.mail import delivery
from eventkit.mail.transport import SmtpTransport, transport_for
from eventkit.model.invitees import Invitee
from eventkit.model.spec import parse_spec
from eventkit.runtime import Runtime
from flows import claims
from tests.conftest import TEMPLATES, make_settings
from tests.flows.cluster import SlowFor
from tests.smtp_servers import RefuseHandler
from tests.test_spec import GOOD

SLUG = "fachvernetzung-2027-gifhorn"


def write_invitees(path: Path, count: int, prefix: str = "guest-") -> Path:
    rows = ["email,name,organisation,language"] + [f"{prefix}{i:03d}@example.org,Gast {i},,de" for i in range(count)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def cli_env(settings: Settings, tmp_path: Path, smtp_url: str) -> dict[str, str]:
    """The environment of an organiser's shell: eventkit's settings and no Prefect server (the embedded default)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVENTKIT_", "PREFECT_"))}
    env.update(
        EVENTKIT_DATABASE_URL=settings.database_url,
        EVENTKIT_SMTP_URL=smtp_url,
        EVENTKIT_SECRET_KEY=settings.secret_key,
        EVENTKIT_VAR_DIR=str(tmp_path / "var"),
        EVENTKIT_MAIL_DIR=str(tmp_path / "mail"),
        EVENTKIT_TEMPLATE_DIR=str(TEMPLATES),
        EVENTKIT_MAIL_FROM=settings.mail_from,
        EVENTKIT_BASE_URL=settings.base_url,
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
    )
    return env


def invite_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "eventkit.cli", *args]


def invite(env: dict[str, str], *args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    """Run the command; if it does not end in time, end it with the temporary Prefect server it started."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and command
        invite_command(*args),
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # nothing of a command that ended; all of one that did not
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def statuses(rt: Runtime) -> dict[str, int]:
    with rt.store.session() as session:
        return dict(session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())


def event(tmp_path: Path, database_url: str, smtp_url: str) -> tuple[Settings, Runtime]:
    settings = make_settings(tmp_path, database_url, smtp_url)
    rt = Runtime.from_settings(settings)
    assert save_event(rt.store, settings, parse_spec(GOOD, TEMPLATES)).slug == SLUG
    return settings, rt


@dataclass
class CountingRefuser(RefuseHandler):
    """RefuseHandler that counts how often each refused recipient was asked for."""

    asked: Counter[str] = field(default_factory=Counter)

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refused:
            self.asked[address] += 1
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


@pytest.mark.slow
def test_relay_down_says_so_at_once_leaves_them_queued_and_a_rerun_sends_each_once(
    tmp_path: Path, database_url: str
) -> None:
    port = free_port()
    smtp_url = f"smtp://127.0.0.1:{port}?starttls=off&timeout=5"
    settings, rt = event(tmp_path, database_url, smtp_url)
    try:
        env = cli_env(settings, tmp_path, smtp_url)
        people = write_invitees(tmp_path / "gaeste.csv", 12)

        # nothing listens on the relay's port: the command ends at once (not after the worker's 42 minutes of
        # retries), in German by default, says that the relay cannot be reached and how many wait, exits non-zero
        started = time.monotonic()
        down = invite(env, "invite", SLUG, "--invitees", str(people), timeout=300)
        took = time.monotonic() - started
        assert down.returncode == 1, down.stderr
        assert f"Der Mailserver 127.0.0.1:{port} ist nicht erreichbar" in down.stderr
        assert "12 Einladungen warten in der Warteschlange" in down.stderr
        assert f"Einladungen für {SLUG}: 0 versandt, 0 fehlgeschlagen, 12 noch nicht versandt." in down.stdout
        assert "Traceback" not in down.stderr and "will be retried" not in down.stderr
        assert took < 240, took  # the temporary Prefect server's start on a busy machine; the delivery takes a moment
        with rt.store.session() as session:
            rows = session.execute(select(OutboxMessage.status, OutboxMessage.last_error)).all()
        assert {status for status, _ in rows} == {"retry"}  # queued, with the reason
        assert all(error.startswith("connection failed:") for _, error in rows)

        # the relay is back: the next run sends every deliverable invitation once, and a 550 once only
        handler = CountingRefuser(refused={"guest-003@example.org"})
        with MailSink(handler, port=port) as sink:
            back = invite(env, "--lang", "en", "invite", SLUG, timeout=300)
            assert back.returncode == 1, back.stderr  # one failed for good
            assert f"Invitations for {SLUG}: 11 sent, 1 failed, 0 not sent yet." in back.stdout
            assert "cannot be reached" not in back.stderr
            again = invite(env, "--lang", "en", "invite", SLUG, timeout=300)
            assert f"Invitations for {SLUG}: 11 sent, 1 failed, 0 not sent yet." in again.stdout
        recipients = Counter(to for r in sink.received for to in r.rcpt_tos)
        assert set(recipients) == {f"guest-{i:03d}@example.org" for i in range(12)} - {"guest-003@example.org"}
        assert set(recipients.values()) == {1}
        assert handler.asked == {"guest-003@example.org": 1}
        assert statuses(rt) == {"sent": 11, "failed": 1}
    finally:
        rt.store.dispose()


@pytest.mark.slow
def test_the_summary_counts_what_another_live_run_holds_and_the_exit_code_says_so(
    tmp_path: Path, database_url: str
) -> None:
    with MailSink() as sink:
        settings, rt = event(tmp_path, database_url, sink.url)
        try:
            invitations.import_invitees(
                rt.store,
                SLUG,
                [Invitee(f"guest-{i:03d}@example.org", f"Gast {i}", None, "de", i + 2) for i in range(10)],
            )
            for first, last in invitations.plan_batches(rt.store, SLUG, 500):
                invitations.prepare_batch(rt.store, settings, rt.renderer, SLUG, first, last)
            # a run of this campaign in a process that lives (this one) is sending four of them right now
            alive = f"{uuid4()} pid:{os.getpid()}@{claims.host_key()}"
            with rt.store.session() as session:
                held = list(session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id).limit(4)))
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(held))
                    .values(status="sending", claimed_by=alive, updated_at=datetime.now(UTC))
                )
            result = invite(cli_env(settings, tmp_path, sink.url), "--lang", "en", "invite", SLUG)
            assert result.returncode == 1, result.stderr
            assert f"Invitations for {SLUG}: 6 sent, 0 failed, 4 not sent yet." in result.stdout
            assert "4 invitations are being sent by another run of this campaign right now" in result.stderr
            assert statuses(rt) == {"sent": 6, "sending": 4}  # left to the run that holds them
            assert len(sink.received) == 6
        finally:
            rt.store.dispose()


def test_an_unreachable_relay_leaves_the_rest_of_the_batch_queued_for_the_sweep(
    tmp_path: Path, database_url: str
) -> None:
    """Without Prefect: the batch stops at the first chunk the relay could not take (not one connection attempt
    per chunk), the rest waits for a retry with the reason, and the delivery sweep sends them."""
    down = f"smtp://127.0.0.1:{free_port()}?starttls=off&timeout=5"
    settings, rt = event(tmp_path, database_url, down)
    try:
        people = [Invitee(f"guest-{i:03d}@example.org", f"Gast {i}", None, "de", i + 2) for i in range(120)]
        invitations.import_invitees(rt.store, SLUG, people)
        [(first, last)] = invitations.plan_batches(rt.store, SLUG, 500)
        invitations.prepare_batch(rt.store, settings, rt.renderer, SLUG, first, last)
        counts = asyncio.run(invitations.deliver_batch(rt.store, transport_for(rt), SLUG, first, last, "run-1"))
        assert counts == {"sent": 0, "retry": 120, "failed": 0}
        with rt.store.session() as session:
            attempts = Counter(session.scalars(select(OutboxMessage.attempts)))
        assert attempts == {1: invitations.CHUNK, 0: 120 - invitations.CHUNK}  # only the first chunk was tried
        assert statuses(rt) == {"retry": 120}
        report = invitations.delivery_report(rt.store, SLUG)
        assert report.waiting == 120 and (report.unreachable or "").startswith("connection failed:")

        with MailSink() as sink:
            back = SmtpTransport(SmtpConfig.from_url(sink.url))
            done = asyncio.run(delivery.deliver_pending(rt.store, back, rt=rt))
            assert done.sent == 120 and len(sink.received) == 120
        assert statuses(rt) == {"sent": 120}
    finally:
        rt.store.dispose()


@pytest.mark.slow
def test_ctrl_c_stops_after_the_message_in_flight_and_says_what_is_left(tmp_path: Path, database_url: str) -> None:
    with MailSink(SlowFor(prefix="guest-", delay=0.2)) as sink:
        settings, rt = event(tmp_path, database_url, sink.url)
        try:
            people = write_invitees(tmp_path / "gaeste.csv", 80)
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and command
                invite_command("--lang", "en", "invite", SLUG, "--invitees", str(people)),
                cwd=PROJECT_ROOT,
                env=cli_env(settings, tmp_path, sink.url),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            try:
                deadline = time.monotonic() + 300
                while len(sink.received) < 5 and process.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.01)
                process.send_signal(signal.SIGINT)
                out, err = process.communicate(timeout=60)  # not after the batch's 80 × 0.2 s
            finally:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            assert process.returncode == 130, err
            assert "Traceback" not in err
            now = statuses(rt)
            assert "sending" not in now  # nothing left claimed: the next run sends the rest at once
            assert now["sent"] == len(sink.received) < 80
            assert f"Interrupted: {now['sent']} invitations sent, {80 - now['sent']} not sent yet." in err
        finally:
            rt.store.dispose()
