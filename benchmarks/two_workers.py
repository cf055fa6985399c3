"""Two workers and PostgreSQL: the topology of README "Two workers and PostgreSQL", started on this machine.

A Prefect server whose database is a fresh PostgreSQL database, the eventkit store in another fresh
PostgreSQL database, the work pool `eventkit`, `prefect deploy` of prefect.yaml, N process workers
(`prefect worker start --pool eventkit --name worker-<x> --limit <runs>`, the same EVENTKIT_* environment
each) and a real SMTP server (aiosmtpd) as the relay, all on loopback ports. Then a campaign: E events with
I invitees each and R opt-in emails each waiting in the outbox; send-invitations of the first event and,
while it still sends, a second run of it (the relay is slow for that event's guests); send-invitations of
the others and two deliver-outbox sweeps at once; an operator's retry of any invitation run that failed.
Both databases are dropped at the end. The set-up is the test's (tests/flows/cluster.py).

    python benchmarks/two_workers.py [--events 4] [--invitees 150] [--requests 10] [--workers 2]
                                     [--runs-per-worker 2] [--smtp-connections 4] [--slow-delay 0.25]
                                     [--batch-size 25] [--no-create-limits]

EVENTKIT_TEST_POSTGRES_URL names the PostgreSQL server (default postgresql+psycopg://postgres@127.0.0.1:5432/test;
its user must be allowed to create databases).

Last line: RESULT messages=<n> expected=<n> duplicates=<n> runs=<n> runs_<worker>=<n>... unsent=<n> seconds=<s>
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.flows.cluster

from tests.flows.cluster import campaign, cluster, postgres_unreachable, seed  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=4)
    parser.add_argument("--invitees", type=int, default=150, help="per event")
    parser.add_argument("--requests", type=int, default=10, help="opt-in emails waiting per event")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs-per-worker", type=int, default=2, help="each worker's --limit")
    parser.add_argument("--smtp-connections", type=int, default=4, help="EVENTKIT_SMTP_CONNECTIONS; 0: none")
    parser.add_argument("--slow-delay", type=float, default=0.25, help="s per message to the first event's guests")
    parser.add_argument("--batch-size", type=int, default=25, help="EVENTKIT_BATCH_SIZE")
    parser.add_argument(
        "--no-create-limits",
        action="store_true",
        help="leave the relay's global concurrency limit to the first deliveries (flows/relay.py) instead of "
        "`prefect gcl create` before the workers start",
    )
    args = parser.parse_args()

    reason = postgres_unreachable()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="eventkit-two-workers-") as tmp:
        print(f"starting a Prefect server on PostgreSQL and {args.workers} workers ...", flush=True)
        with cluster(
            Path(tmp),
            workers=args.workers,
            runs_per_worker=args.runs_per_worker,
            smtp_connections=args.smtp_connections or None,
            create_limits=not args.no_create_limits,
            batch_size=args.batch_size,
            slow_delay=args.slow_delay,
        ) as c:
            print(f"up after {time.monotonic() - began:.1f} s: {c.api}, workers {', '.join(c.workers)}", flush=True)
            slugs = seed(c, events=args.events, invitees=args.invitees, requests=args.requests)
            outcome = campaign(c, slugs, timeout=600)
    expected = args.events * (args.invitees + args.requests)
    per_worker = outcome.runs_per_worker()
    unsent = sum(n for (_, status), n in outcome.outbox.items() if status != "sent")
    over_once = sum(1 for n in outcome.recipients.values() if n > 1)
    print(f"\nflow runs (seconds from the first run's start):\n{outcome.table()}\n")
    print(f"messages at the relay   {outcome.messages} (expected {expected})")
    print(f"duplicates              {outcome.duplicates()} by Message-ID, {over_once} recipients with more than one")
    print(f"outbox                  {dict(sorted(outcome.outbox.items()))}")
    print(f"runs per worker         {dict(sorted(per_worker.items()))}")
    print(f"campaign                {outcome.seconds:.1f} s (all runs finished, retries included)")
    workers = " ".join(f"runs_{name.replace('-', '_')}={n}" for name, n in sorted(per_worker.items()))
    print(
        f"RESULT messages={outcome.messages} expected={expected} duplicates={outcome.duplicates()} "
        f"runs={len(outcome.runs)} {workers} unsent={unsent} seconds={outcome.seconds:.1f}"
    )
    ok = outcome.messages == expected and not outcome.duplicates() and not unsent and len(per_worker) == args.workers
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
