"""Several process workers in one pool, a Prefect server on PostgreSQL, the eventkit store on PostgreSQL.

The topology of README "Two workers and PostgreSQL", started as an operator starts it: `prefect server start`
with PREFECT_SERVER_DATABASE_CONNECTION_URL on a PostgreSQL database, `prefect work-pool create`, `prefect
deploy`, and `prefect worker start --pool eventkit --name worker-<x>` once per worker, every worker with the
same EVENTKIT_* environment (one PostgreSQL store, one SMTP relay). Both databases are made fresh for one
run and dropped afterwards; the relay is a real SMTP server (aiosmtpd) in this process.

A campaign then fills the store with several events and their invitees (and some registration requests
whose opt-in emails wait in the outbox), starts flow runs of send-invitations for all of them through the
server's API (plus a second run of one event's invitations while its first one sends) and two deliver-outbox
sweeps at once, and reads back which worker ran what and what reached the relay.

Used by tests/flows/test_two_workers.py and benchmarks/two_workers.py.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import os
import secrets
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import create_engine, func, select, text

from eventkit import runtime
from eventkit.core.settings import PROJECT_ROOT, Settings
from eventkit.db.store import OutboxMessage
from eventkit.devtools.mailsink import MailSink, SinkHandler, free_port
from eventkit.events.events import save_event
from eventkit.invitations.invitations import import_invitees
from eventkit.model.invitees import Invitee
from eventkit.model.registration_form import RegistrationInput
from eventkit.model.spec import parse_spec
from eventkit.registration.desk import submit
from flows.relay import CONNECTIONS
from tests.conftest import POSTGRES_URL, TEMPLATES
from tests.flows.prefect_server import deploy_args
from tests.flows.test_delivery_server import _healthy, _log_tail, _start, _stop, wait_for
from tests.test_spec import GOOD

TERMINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


@dataclass
class SlowFor(SinkHandler):
    """Accepts everything, but takes `delay` seconds over each message to a recipient starting with `prefix`
    (a slow relay for one event's guests): that event's invitation run is still sending when a second run of
    it starts, so the two really compete for the same outbox rows."""

    prefix: str = ""
    delay: float = 0.0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.prefix and any(str(r).startswith(self.prefix) for r in envelope.rcpt_tos):
            await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


def postgres_unreachable(url: str = POSTGRES_URL) -> str | None:
    """Why PostgreSQL cannot be used (None if it can): the reason a test skips with."""
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure to connect means: skip
        return f"PostgreSQL at {engine.url.render_as_string(hide_password=True)} is unreachable: {exc}"
    finally:
        engine.dispose()
    return None


@contextmanager
def fresh_database(prefix: str, url: str = POSTGRES_URL) -> Iterator[str]:
    """CREATE DATABASE <prefix>_<random> on the server of `url`, yield its name, DROP it (WITH FORCE) afterwards."""
    name = f"{prefix}_{secrets.token_hex(5)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def database_url(url: str, name: str, driver: str) -> str:
    """`url` with another database and driver (postgresql+asyncpg for the Prefect server, +psycopg for eventkit)."""
    base = url.split("://", 1)[1].rsplit("/", 1)[0]
    return f"postgresql+{driver}://{base}/{name}"


@dataclass
class Cluster:
    tmp: Path
    api: str
    env: dict[str, str]  # the CLI's and every worker's environment: Prefect server and eventkit store
    sink: MailSink
    rt: runtime.Runtime  # the same store as the workers, for the campaign's set-up and its checks
    workers: list[str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ran_on: dict[str, str] = field(default_factory=dict)  # flow run id -> the worker that started its process

    def prefect(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "prefect", *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def logs(self) -> str:
        return "\n".join(_log_tail(self.tmp, name) for name in self.procs)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = httpx.post(f"{self.api}{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def deployment_id(self, name: str) -> str:
        response = httpx.get(f"{self.api}/deployments/name/{name}/{name}", timeout=30)
        response.raise_for_status()
        return str(response.json()["id"])

    def run_deployment(self, name: str, parameters: dict[str, Any]) -> str:
        """A flow run of the deployment, scheduled for now (as *Run* in the UI); returns its id."""
        run = self.post(f"/deployments/{self.deployment_id(name)}/create_flow_run", {"parameters": parameters})
        return str(run["id"])

    def flow_runs(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        body = {"flow_runs": {"id": {"any_": ids}}, "limit": 200, "offset": 0}
        return {run["id"]: run for run in self.post("/flow_runs/filter", body)}

    def wait_finished(self, ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
        """Wait for every run to end; meanwhile note which worker started each (self.ran_on)."""

        def finished() -> dict[str, dict[str, Any]] | None:
            runs = self.flow_runs(ids)
            for run_id, run in runs.items():
                if run_id not in self.ran_on and run["infrastructure_pid"]:
                    worker = self._parent_worker(run["infrastructure_pid"])
                    if worker:
                        self.ran_on[run_id] = worker
            return runs if all(runs[i]["state_type"] in TERMINAL for i in ids) else None

        runs = wait_for(finished, timeout, f"{len(ids)} flow runs to finish", 0.5, self.logs)
        for run_id in ids:
            if run_id not in self.ran_on:
                self.ran_on[run_id] = self._worker_from_logs(run_id)
        return runs

    def _parent_worker(self, infrastructure_pid: str) -> str | None:
        """The worker whose process started the flow run's process (the run's infrastructure_pid), from /proc."""
        workers = {self.procs[name].pid: name for name in self.workers}
        pid = int(str(infrastructure_pid).rsplit(":", 1)[-1])
        for _ in range(10):
            if pid in workers:
                return workers[pid]
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                return None  # ended already, or not Linux: the workers' logs tell
            pid = int(stat.rsplit(")", 1)[1].split()[1])  # the parent's pid
            if pid <= 1:
                return None
        return None

    def _worker_from_logs(self, run_id: str) -> str:
        """The worker whose log shows the run's own output (a process worker passes on its flow runs' output)."""
        logs = {name: (self.tmp / f"{name}.log").read_text(errors="replace") for name in self.workers}
        found = [name for name, text in logs.items() if f"flow-run/{run_id}" in text]
        return found[0] if len(found) == 1 else "?"

    def outbox_statuses(self) -> Counter[tuple[str, str]]:
        """(kind, status) -> rows in the eventkit outbox."""
        with self.rt.store.session() as session:
            rows = session.execute(
                select(OutboxMessage.kind, OutboxMessage.status, func.count()).group_by(
                    OutboxMessage.kind, OutboxMessage.status
                )
            ).all()
        return Counter({(kind, status): n for kind, status, n in rows})


def _worker_polling(cluster: Cluster, name: str) -> bool:
    proc = cluster.procs[name]
    if proc.poll() is not None:
        raise AssertionError(f"{name} exited with {proc.returncode}\n{_log_tail(cluster.tmp, name)}")
    return "started!" in (cluster.tmp / f"{name}.log").read_text(errors="replace")


@contextmanager
def cluster(
    tmp: Path,
    *,
    workers: int = 2,
    runs_per_worker: int = 2,
    smtp_connections: int | None = 4,
    create_limits: bool = True,
    batch_size: int = 25,
    slow_prefix: str = "guest-1-",
    slow_delay: float = 0.25,
) -> Iterator[Cluster]:
    """Start the whole topology; stop every process and drop both databases afterwards.

    `runs_per_worker` is each worker's `--limit` (flow runs at once): on a small machine, a worker that
    took every run would start them all at once; with a limit, the other worker takes what is left.
    `create_limits` makes the relay's global concurrency limit before the workers start (`prefect gcl
    create`), as README advises: left to the first deliveries, several of them make it at once, and with
    Prefect 3.8 those that lose the race fail (flows/relay.py expects an httpx error; the client raises
    ObjectAlreadyExists).
    The relay takes `slow_delay` s over each message to a recipient starting with `slow_prefix` (SlowFor).
    """
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "EVENTKIT_"))}
    with (
        fresh_database("prefect") as prefect_db,
        fresh_database("eventkit") as eventkit_db,
        MailSink(SlowFor(prefix=slow_prefix, delay=slow_delay)) as sink,
    ):
        eventkit_env = {
            "EVENTKIT_DATABASE_URL": database_url(POSTGRES_URL, eventkit_db, "psycopg"),
            "EVENTKIT_VAR_DIR": str(tmp / "var"),
            "EVENTKIT_MAIL_DIR": str(tmp / "mail"),
            "EVENTKIT_SECRET_KEY": "test-secret-" + secrets.token_hex(8),
            "EVENTKIT_BASE_URL": "https://events.example.org",
            "EVENTKIT_MAIL_FROM": "noreply@events.example.org",
            "EVENTKIT_TEMPLATE_DIR": str(TEMPLATES),
            "EVENTKIT_SMTP_URL": sink.url,
            "EVENTKIT_BATCH_SIZE": str(batch_size),
            "EVENTKIT_RATE_LIMIT": "off",
        }
        if smtp_connections:
            # a Prefect global concurrency limit, kept by both workers together (flows/relay.py)
            eventkit_env["EVENTKIT_SMTP_CONNECTIONS"] = str(smtp_connections)
        env = {
            **base,
            **eventkit_env,
            "PREFECT_HOME": str(tmp / "prefect-home"),
            "PREFECT_API_URL": api,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": database_url(POSTGRES_URL, prefect_db, "asyncpg"),
            "PREFECT_UI_ENABLED": "false",
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            "EVENTKIT_HOME": str(PROJECT_ROOT),  # the pull step of prefect.yaml
        }
        # the eventkit schema is made here, once, before the workers open the store
        rt = runtime.Runtime.from_settings(Settings.from_env(eventkit_env))
        names = [f"worker-{chr(ord('a') + i)}" for i in range(workers)]
        c = Cluster(tmp, api, env, sink, rt, names)
        procs = c.procs
        try:
            server_args = ["-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
            procs["server"] = _start(tmp, "server", server_args, env)
            wait_for(lambda: _healthy(f"{api}/health", procs["server"], tmp, "server"), 120, "the Prefect server", 0.5)
            steps: list[tuple[str, ...]] = [("work-pool", "create", "eventkit", "--type", "process"), deploy_args()]
            if smtp_connections and create_limits:
                steps.append(("gcl", "create", CONNECTIONS, "--limit", str(smtp_connections)))
            for args in steps:
                done = c.prefect(*args)
                assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
            for name in names:
                worker_args = ["-m", "prefect", "worker", "start", "--pool", "eventkit", "--name", name]
                procs[name] = _start(tmp, name, [*worker_args, "--limit", str(runs_per_worker)], env)
            for name in names:
                wait_for(lambda n=name: _worker_polling(c, n), 90, f"{name} to poll the work pool", 0.5)  # type: ignore[misc]
            yield c
        except BaseException:
            print(c.logs())  # shown with the failure
            raise
        finally:
            for name in [*names, "server"]:
                if name in procs:
                    _stop(procs[name])
            rt.store.dispose()


def seed(c: Cluster, *, events: int, invitees: int, requests: int) -> list[str]:
    """`events` events with `invitees` invitees each (nothing sent yet) and `requests` registration requests
    per event whose opt-in emails wait in the outbox; returns the slugs."""
    slugs = []
    for e in range(events):
        spec = parse_spec(f"{GOOD}slug: two-workers-{e + 1}\n", TEMPLATES)
        slug = save_event(c.rt.store, c.rt.settings, spec).slug
        people = [
            Invitee(f"guest-{e + 1}-{i:04d}@example.org", f"Gast {i} Müller", "Verein e.V.", "de", i + 2)
            for i in range(invitees)
        ]
        import_invitees(c.rt.store, slug, people)
        for r in range(requests):
            data = RegistrationInput(f"Anfrage {r}", f"request-{e + 1}-{r:03d}@example.org", None, "de", {})
            assert submit(c.rt, slug, data).status == "pending"
        slugs.append(slug)
    return slugs


@dataclass
class Outcome:
    seconds: float
    runs: dict[str, dict[str, Any]]  # flow run id -> the server's flow run
    labels: dict[str, str]  # flow run id -> what it was started for
    by_worker: dict[str, str]  # flow run id -> worker name
    messages: int  # received by the relay
    recipients: Counter[str]
    message_ids: Counter[str]
    outbox: Counter[tuple[str, str]]

    def runs_per_worker(self) -> Counter[str]:
        return Counter(self.by_worker.values())

    def duplicates(self) -> int:
        return sum(n - 1 for n in self.message_ids.values() if n > 1)

    def table(self) -> str:
        """One line per flow run: what for, which worker, its final state, when it ran (seconds into the campaign)."""
        first = min(run["start_time"] or run["expected_start_time"] for run in self.runs.values())
        zero = datetime.fromisoformat(first)
        lines = []
        for run_id, label in self.labels.items():
            run = self.runs[run_id]
            start = run["start_time"] and (datetime.fromisoformat(run["start_time"]) - zero).total_seconds()
            end = run["end_time"] and (datetime.fromisoformat(run["end_time"]) - zero).total_seconds()
            span = f"{start:5.1f}–{end:5.1f} s" if start is not None and end is not None else "-"
            state = f"{run['state_type']}: {run['state']['message'] or ''}"[:70]
            lines.append(f"  {label:<46} {self.by_worker.get(run_id, '?'):<9} {span:<15} {state}")
        return "\n".join(lines)


def campaign(c: Cluster, slugs: list[str], *, timeout: float = 240) -> Outcome:
    """send-invitations of the first event and, once it runs, a second run of it (an operator who pressed
    *Run* again while the first still sends: the relay is slow for this event's guests); with it, at once,
    send-invitations of the other events and two deliver-outbox sweeps (the opt-in emails of every event)."""
    started = time.monotonic()
    labels: dict[str, str] = {c.run_deployment("send-invitations", {"slug": slugs[0]}): f"invitations {slugs[0]}"}
    first = next(iter(labels))
    wait_for(
        lambda: c.flow_runs([first])[first]["state_type"] in ("RUNNING", *TERMINAL),
        120,
        "the first invitation run to start",
        0.2,
        c.logs,
    )
    labels[c.run_deployment("send-invitations", {"slug": slugs[0]})] = f"invitations {slugs[0]} (again)"
    for slug in slugs[1:]:
        labels[c.run_deployment("send-invitations", {"slug": slug})] = f"invitations {slug}"
    # two sweeps at once compete for the same opt-in emails (every event's); both fit in deliver-outbox's
    # deployment concurrency limit (2), a third run would wait in line for a slot
    for n in (1, 2):
        labels[c.run_deployment("deliver-outbox", {})] = f"sweep {n}"
    ids = list(labels)
    runs = c.wait_finished(ids, timeout)
    # the two runs of the first event may each end Failed ("still deferred"): when one looked, the other
    # still had some of the event's invitations claimed. The operator retries: it sends what is left.
    failed = [labels[i] for i, run in runs.items() if run["state_type"] != "COMPLETED"]
    for slug in sorted({label.split()[1] for label in failed if label.startswith("invitations ")}):
        retry = c.run_deployment("send-invitations", {"slug": slug})
        labels[retry] = f"invitations {slug} (operator's retry)"
        runs |= c.wait_finished([retry], timeout)
    seconds = time.monotonic() - started
    received = c.sink.received
    parser = email.parser.BytesHeaderParser(policy=email.policy.default)
    message_ids = Counter(str(parser.parsebytes(r.data)["Message-ID"]) for r in received)
    recipients = Counter(to for r in received for to in r.rcpt_tos)
    by_worker = {run_id: c.ran_on[run_id] for run_id in labels}
    return Outcome(seconds, runs, labels, by_worker, len(received), recipients, message_ids, c.outbox_statuses())
