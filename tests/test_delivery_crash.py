"""A delivery killed in the middle of a campaign: its retry sends every remaining message and no sent one again.

The delivery runs in a process of its own that the test kills with SIGKILL (as a worker dies, or the kernel's
out-of-memory killer strikes: no cleanup), against a real SMTP server that takes a little time per message.
Each recipient's outcome is recorded the moment the relay has answered, so only the message in flight at the
kill can be unrecorded; a retry of the same flow run (the same claimant) takes over the dead attempt's claims
at once, and so does any run once the claimant is known dead (`eventkit invite` killed on the embedded
default: its process is gone); a claimant nobody can ask about keeps its claims until the lease runs out.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from eventkit.core.settings import PROJECT_ROOT
from eventkit.db.store import OutboxMessage
from eventkit.devtools.mailsink import MailSink
from eventkit.events.events import save_event
from eventkit.invitations import invitations
from eventkit.mail.transport import transport_for
from eventkit.model.invitees import Invitee
from eventkit.model.spec import parse_spec
from eventkit.runtime import Runtime
from tests.conftest import TEMPLATES, make_settings
from tests.flows.cluster import SlowFor
from tests.test_invite_command import SLUG, cli_env, invite, invite_command, write_invitees
from tests.test_spec import GOOD

DELIVER = """
import asyncio, sys
from eventkit.invitations import invitations
from eventkit.runtime import Runtime
from eventkit.core.settings import Settings
from eventkit.mail.transport import transport_for

slug, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rt = Runtime.from_settings(Settings.from_env())
print("started", flush=True)
asyncio.run(invitations.deliver_batch(rt.store, transport_for(rt), slug, first, last, "run-1"))
"""


def statuses(rt: Runtime) -> dict[str, int]:
    with rt.store.session() as session:
        return dict(session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())


def test_a_killed_delivery_retried_sends_the_rest_and_nothing_twice(tmp_path: Path, database_url: str) -> None:
    with MailSink(SlowFor(prefix="guest-", delay=0.02)) as sink:
        settings = make_settings(tmp_path, database_url, sink.url)
        rt = Runtime.from_settings(settings)
        try:
            slug = save_event(rt.store, settings, parse_spec(GOOD, TEMPLATES)).slug
            people = [Invitee(f"guest-{i:03d}@example.org", f"Gast {i}", None, "de", i + 2) for i in range(150)]
            invitations.import_invitees(rt.store, slug, people)
            [(first, last)] = invitations.plan_batches(rt.store, slug, 500)
            invitations.prepare_batch(rt.store, settings, rt.renderer, slug, first, last)

            env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTKIT_")}
            env.update(
                EVENTKIT_DATABASE_URL=settings.database_url,
                EVENTKIT_SMTP_URL=sink.url,
                EVENTKIT_SECRET_KEY=settings.secret_key,
                EVENTKIT_VAR_DIR=str(tmp_path / "var"),
                EVENTKIT_TEMPLATE_DIR=str(TEMPLATES),
                EVENTKIT_MAIL_FROM=settings.mail_from,
            )
            worker = subprocess.Popen(  # noqa: S603 - our own interpreter and script
                [sys.executable, "-c", DELIVER, slug, str(first), str(last)], cwd=PROJECT_ROOT, env=env
            )
            deadline = time.monotonic() + 60
            while len(sink.received) < 40 and worker.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            os.kill(worker.pid, signal.SIGKILL)  # mid-campaign, mid-chunk: no chance to clean up
            worker.wait(10)
            time.sleep(0.3)  # let the relay finish the message it was taking, if any
            arrived = len(sink.received)
            before = statuses(rt)
            assert 40 <= arrived < 150, arrived
            assert before.get("sending", 0) > 0  # the dead attempt's claim is left behind
            # everything that arrived is recorded as sent, but for at most the one in flight at the kill
            assert arrived - 1 <= before["sent"] <= arrived

            # another delivery leaves the claim alone while its lease lasts ...
            other = asyncio.run(invitations.deliver_batch(rt.store, transport_for(rt), slug, first, last, "run-2"))
            assert other["sent"] == 150 - sum(before.values()) + before.get("pending", 0)
            assert statuses(rt).get("sending", 0) == before["sending"]
            # ... and the retry of the killed run takes it over at once and finishes the campaign
            retried = asyncio.run(invitations.deliver_batch(rt.store, transport_for(rt), slug, first, last, "run-1"))
            assert retried["sent"] == before["sending"]
            assert statuses(rt) == {"sent": 150}
        finally:
            rt.store.dispose()
    recipients = Counter(to for r in sink.received for to in r.rcpt_tos)
    assert set(recipients) == {f"guest-{i:03d}@example.org" for i in range(150)}
    twice = [to for to, n in recipients.items() if n > 1]
    assert len(twice) <= 1, twice  # only the message in flight at the kill may arrive again (SMTP: at least once)


IN_FLIGHT = 2  # 400 invitees in batches of 250: two connections to the relay at once


@pytest.mark.slow
def test_a_killed_invite_command_is_finished_by_the_next_run_at_once(tmp_path: Path, database_url: str) -> None:
    """The issue's campaign: 400 invitees, `eventkit invite` killed after 133 arrived, run again at once."""
    with MailSink(SlowFor(prefix="guest-", delay=0.05)) as sink:
        settings = make_settings(tmp_path, database_url, sink.url)
        rt = Runtime.from_settings(settings)
        try:
            assert save_event(rt.store, settings, parse_spec(GOOD, TEMPLATES)).slug == SLUG
            env = cli_env(settings, tmp_path, sink.url)
            people = write_invitees(tmp_path / "gaeste.csv", 400)
            log = (tmp_path / "first.log").open("w")
            # a session of its own, so that the temporary Prefect server it starts can be ended with it below
            first = subprocess.Popen(  # noqa: S603 - our own interpreter and command
                invite_command("invite", SLUG, "--invitees", str(people)),
                cwd=PROJECT_ROOT,
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
            try:
                deadline = time.monotonic() + 400
                while len(sink.received) < 133 and first.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.01)
                os.kill(first.pid, signal.SIGKILL)
                first.wait(10)
            finally:
                try:
                    os.killpg(first.pid, signal.SIGKILL)  # the killed command's temporary Prefect server
                except ProcessLookupError:
                    pass
                log.close()
            time.sleep(0.3)  # let the relay finish the message it was taking, if any
            arrived = len(sink.received)
            before = statuses(rt)
            assert 133 <= arrived < 400, (arrived, (tmp_path / "first.log").read_text()[-3000:])
            assert before.get("sending", 0) > 0  # the dead run's claims are left behind
            # two batches (of the default 250) were sending at once, each over its own connection: each may
            # have had one message in flight, arrived but not recorded
            assert arrived - IN_FLIGHT <= before["sent"] <= arrived

            # run again at once: the dead run's claims are taken over, every invitation goes out, all is well
            rerun = invite(env, "--lang", "en", "invite", SLUG)
            assert rerun.returncode == 0, rerun.stdout + rerun.stderr
            assert f"Invitations for {SLUG}: 400 sent, 0 failed, 0 not sent yet." in rerun.stdout
            assert "taking over the invitations claimed by 1 runs that ended" in rerun.stderr
            assert statuses(rt) == {"sent": 400}
        finally:
            rt.store.dispose()
    recipients = Counter(to for r in sink.received for to in r.rcpt_tos)
    assert set(recipients) == {f"guest-{i:03d}@example.org" for i in range(400)}
    twice = [to for to, n in recipients.items() if n > 1]
    assert len(twice) <= IN_FLIGHT, twice  # only messages in flight at the kill may arrive again (at least once)
