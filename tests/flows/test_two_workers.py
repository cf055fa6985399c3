"""Two process workers in one pool, the Prefect server on PostgreSQL, the eventkit store on PostgreSQL:
a campaign whose flow runs land on both workers delivers each email exactly once (tests/flows/cluster.py).

Four events with 150 invitees each and 10 opt-in emails each waiting in the outbox. send-invitations of the
first event, and, while it still sends (the relay is slow for its guests), a second run of it; at once the
other events' send-invitations and two deliver-outbox sweeps (the opt-in emails). Each worker runs at most
two flow runs at a time, so both take some.

Below it, the same guarantee without Prefect: two deliveries of one invitation batch at once (two threads).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from eventkit.db.store import OutboxMessage
from eventkit.devtools.mailsink import MailSink
from eventkit.events.events import save_event
from eventkit.invitations import invitations
from eventkit.mail.transport import transport_for
from eventkit.model.invitees import Invitee
from eventkit.model.spec import parse_spec
from eventkit.runtime import Runtime
from tests.conftest import TEMPLATES, make_settings
from tests.flows.cluster import Cluster, SlowFor, campaign, cluster, postgres_unreachable, seed
from tests.test_spec import GOOD

EVENTS, INVITEES, REQUESTS = 4, 150, 10


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    reason = postgres_unreachable()
    if reason:
        pytest.skip(reason)
    with cluster(tmp_path_factory.mktemp("two-workers"), workers=2, runs_per_worker=2) as c:
        yield c


@pytest.mark.slow
@pytest.mark.prefect
@pytest.mark.postgres
def test_a_campaign_on_two_workers_sends_each_email_once(two_workers: Cluster) -> None:
    c = two_workers
    slugs = seed(c, events=EVENTS, invitees=INVITEES, requests=REQUESTS)
    outcome = campaign(c, slugs)
    per_worker = outcome.runs_per_worker()
    print(
        f"\n{outcome.messages} emails, {len(outcome.runs)} flow runs in {outcome.seconds:.1f} s; "
        f"runs per worker {dict(per_worker)}; duplicates {outcome.duplicates()}\n{outcome.table()}"
    )
    states = {outcome.labels[i]: run["state_type"] for i, run in outcome.runs.items()}
    # the two runs of the first event may end Failed ("still deferred": when one of them looked, the other
    # still had some invitations claimed); the operator's retry then completes. Every other run completes.
    first_event = {f"invitations {slugs[0]}", f"invitations {slugs[0]} (again)"}
    assert all(state == "COMPLETED" for label, state in states.items() if label not in first_event), states
    assert all(states[label] in ("COMPLETED", "FAILED") for label in first_event), states

    # every run was started by one of the two workers (none unknown: "?"), and each worker started some
    assert set(per_worker) == {"worker-a", "worker-b"}, outcome.by_worker

    # exactly once at the relay: by Message-ID, and by recipient (one invitation or one opt-in email each)
    expected = {f"guest-{e + 1}-{i:04d}@example.org" for e in range(EVENTS) for i in range(INVITEES)}
    expected |= {f"request-{e + 1}-{r:03d}@example.org" for e in range(EVENTS) for r in range(REQUESTS)}
    assert outcome.duplicates() == 0, [m for m, n in outcome.message_ids.items() if n > 1][:10]
    assert set(outcome.recipients) == expected
    assert max(outcome.recipients.values()) == 1, outcome.recipients.most_common(5)
    assert outcome.messages == len(expected) == EVENTS * (INVITEES + REQUESTS)

    # and in the outbox: every row sent, nothing left claimed
    assert {status for _, status in outcome.outbox} == {"sent"}, outcome.outbox
    assert outcome.outbox[("invitation", "sent")] == EVENTS * INVITEES
    assert sum(outcome.outbox.values()) == len(expected)


def test_two_deliveries_of_one_batch_at_once_send_each_invitation_once(tmp_path: Path, database_url: str) -> None:
    handler = SlowFor(prefix="guest-", delay=0.01)
    with MailSink(handler) as sink:
        settings = make_settings(tmp_path, database_url, sink.url)
        rt = Runtime.from_settings(settings)
        try:
            slug = save_event(rt.store, settings, parse_spec(GOOD, TEMPLATES)).slug
            people = [Invitee(f"guest-{i:03d}@example.org", f"Gast {i}", None, "de", i + 2) for i in range(120)]
            invitations.import_invitees(rt.store, slug, people)
            [(first, last)] = invitations.plan_batches(rt.store, slug, 500)
            assert invitations.prepare_batch(rt.store, settings, rt.renderer, slug, first, last) == 120

            counts: list[dict[str, int]] = []
            start = threading.Barrier(2)

            def deliver() -> None:
                start.wait()
                transport = transport_for(rt)
                counts.append(asyncio.run(invitations.deliver_batch(rt.store, transport, slug, first, last)))

            threads = [threading.Thread(target=deliver) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            with rt.store.session() as session:
                statuses = dict(
                    session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
                )
        finally:
            rt.store.dispose()
    recipients = Counter(to for r in sink.received for to in r.rcpt_tos)
    assert len(sink.received) == 120 and max(recipients.values()) == 1, recipients.most_common(3)
    assert len(counts) == 2, counts  # both finished (one may find every row taken)
    assert sum(c["sent"] for c in counts) == 120
    assert statuses == {"sent": 120}
