"""Registration benchmark: N registrations from C concurrent clients against `eventkit serve`, SQLite and PostgreSQL.

For each database, set-up in this process: an event with fewer places than registrations (the rest goes to
the waiting list), and one personal invitation per registration, made and sent with the steps of the
send-invitations flow (into a directory, as `eventkit invite` does without SMTP); each personal link's token
is read back from its invitation in the outbox. Then a real `eventkit serve` runs in its own process, and C
clients (asyncio, one keep-alive connection each, spoken by a minimal HTTP/1.1 client on asyncio streams: a
full client library would cost the server a core) send the N registrations over HTTP with their tokens, so
that every request gets its place, or its place on the waiting list, at once. The server delivers the
confirmation emails itself (EVENTKIT_DELIVERY=inline: from its delivery child process, into its mail
directory). Client and server share the machine's cores.

    python benchmarks/registration.py [--requests 1000] [--clients 50] [--capacity 300] [--databases sqlite,postgres]

EVENTKIT_BENCH_SERVE replaces the command before `serve --host ... --port ...` (default: the venv's `eventkit`),
e.g. to run the server with instrumentation; the CPU figures are then those of that command's process.

Last line: RESULT sqlite_rps=<x> sqlite_p99_ms=<y> postgres_rps=<x> postgres_p99_ms=<y> overbooked=<n>
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import email
import email.policy
import json
import math
import os
import random
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "fachvernetzung-gifhorn.yaml"  # registration deadline and start lie in the future
POSTGRES_URL = os.environ.get("EVENTKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TARGET_RPS = 150.0
TARGET_P99_MS = 250.0
ADMIN_TOKEN = "benchmark-admin-" + secrets.token_hex(8)
FIRST = ["Ayşe", "Jörg", "محمد", "Дмитрий", "Olena", "François", "Lena", "Mehmet", "Anna", "Kofi", "Zeynep", "Paul"]
LAST = ["Yılmaz", "Müller", "الأحمد", "Иванов", "Kovalenko", "Dupont", "Schmidt", "Demir", "Nowak", "Mensah"]
ORGS = ["Interkultureller Verein Gera e.V.", "Abli e.V.", "Bündnis für Demokratie", "Städtepartnerschaft Hannover", ""]
TOKEN = re.compile(r"/register\?t=([A-Za-z0-9_\-]+)")


@dataclass
class Run:
    """What one database's run measured."""

    database: str
    requests: int = 0
    wall: float = math.nan
    latencies_ms: list[float] = field(default_factory=list)
    sent_at_s: list[float] = field(default_factory=list)  # when each request went out, from the start of the load
    outcomes: Counter[str] = field(default_factory=Counter)  # the status of each 201, or the HTTP status
    errors: list[str] = field(default_factory=list)
    final: Counter[str] = field(default_factory=Counter)  # statuses in the organisers' list afterwards
    delivered: int = 0
    delivery_wait: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    database_cpu: float | None = None
    server_log: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.wall

    def p(self, q: float) -> float:
        """The q-th percentile of the latencies (nearest rank)."""
        values = sorted(self.latencies_ms)
        if not values:
            return math.nan
        return values[min(len(values) - 1, max(0, math.ceil(q / 100 * len(values)) - 1))]

    def overbooked(self, capacity: int) -> int:
        return max(0, self.final["registered"] - capacity)


def write_spec(path: Path, slug: str, capacity: int) -> None:
    """The example event with its own slug and fewer places than registrations."""
    text = SPEC.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^slug: .*$", f"slug: {slug}", text)
    text = re.sub(r"(?m)^capacity: .*$", f"capacity: {capacity}", text)
    path.write_text(text, encoding="utf-8")


def write_invitees(path: Path, n: int) -> None:
    rnd = random.Random(42)  # noqa: S311 - sample data, not security
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["email", "name", "organisation", "language"])
        for i in range(n):
            w.writerow(
                [
                    f"person{i}@example.org",
                    f"{rnd.choice(FIRST)} {rnd.choice(LAST)}",
                    rnd.choice(ORGS),
                    "en" if i % 5 == 0 else "de",
                ]
            )


def token_of(raw: bytes | None) -> str:
    """The personal link's token from an invitation's plain-text part (quoted-printable in the MIME)."""
    message = email.message_from_bytes(raw or b"", policy=email.policy.default)
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            found = TOKEN.search(part.get_content())
            if found:
                return found.group(1)
    raise ValueError("no registration link in the invitation")


def set_up(env: dict[str, str], workdir: Path, n: int, capacity: int) -> tuple[str, list[dict[str, Any]]]:
    """Store the event and invite n people; returns the slug and one registration body per invitee."""
    from sqlalchemy import select

    from eventkit.core.render import Renderer
    from eventkit.core.settings import Settings
    from eventkit.db.store import Invitation, OutboxMessage, Person, Store
    from eventkit.events.events import save_event
    from eventkit.invitations import invitations
    from eventkit.mail.transport import MailDirTransport
    from eventkit.model.invitees import read_invitees
    from eventkit.model.spec import load_spec

    settings = Settings.from_env(env)
    spec_path, csv_path = workdir / "event.yaml", workdir / "invitees.csv"
    write_spec(spec_path, f"bench-{secrets.token_hex(3)}", capacity)
    write_invitees(csv_path, n)
    spec = load_spec(spec_path, settings.template_dir)
    store = Store(settings.database_url)
    try:
        save_event(store, settings, spec)
        invitations.import_invitees(store, spec.slug, read_invitees(csv_path))
        renderer = Renderer(settings.template_dir)
        # sent, not just made: the outbox then holds them as it does when registration opens in production
        sent_to = MailDirTransport(workdir / "invitations")
        for first, last in invitations.plan_batches(store, spec.slug, settings.batch_size):
            invitations.prepare_batch(store, settings, renderer, spec.slug, first, last)
            asyncio.run(invitations.deliver_batch(store, sent_to, spec.slug, first, last))
        with store.session() as session:
            rows = session.execute(
                select(Person, OutboxMessage.raw)
                .join(OutboxMessage, OutboxMessage.person_id == Person.id)
                .join(Invitation, Invitation.person_id == Person.id)
                .where(OutboxMessage.kind == invitations.KIND)
                .order_by(Invitation.id)
            ).all()
            bodies = []
            for i, (person, raw) in enumerate(rows):
                body: dict[str, Any] = {
                    "name": person.name,
                    "email": person.email,
                    "organisation": person.organisation,
                    "privacy_consent": True,
                    "invitation_token": token_of(raw),
                }
                if i % 3 == 0:  # the format's own (optional) field, as some people fill it in
                    body["represented"] = person.organisation or "Nachbarschaftsinitiative Süd"
                bodies.append(body)
    finally:
        store.dispose()
    return spec.slug, bodies


def postgres_unreachable() -> str | None:
    """None when the PostgreSQL server answers, else why not."""
    from sqlalchemy import create_engine, text

    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means: skip this database
        return str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    finally:
        engine.dispose()
    return None


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema for one run, dropped afterwards (as tests/conftest.py does it)."""
    from sqlalchemy import create_engine, text

    schema = "ek_bench_" + secrets.token_hex(4)
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads) and of its live child processes (the
    worker processes of `serve --workers N`) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        for child in children:
            try:
                total += cpu_seconds(int(child))
            except (FileNotFoundError, ProcessLookupError):
                pass
    return total


def postgres_cpu_seconds() -> float:
    """CPU time of the local PostgreSQL server's processes so far (backends that exit are lost: a lower bound)."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "comm").read_text().strip() == "postgres":
                total += cpu_seconds(int(proc.name))
        except OSError:
            continue
    return total


@contextmanager
def server(env: dict[str, str], workdir: Path, workers: int = 1) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`eventkit serve` in its own process, once /healthz answers; its output goes to workdir/serve.log."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    script = Path(sys.executable).parent / "eventkit"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "eventkit.cli"]
    if os.environ.get("EVENTKIT_BENCH_SERVE"):
        command = shlex.split(os.environ["EVENTKIT_BENCH_SERVE"])
    with (workdir / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            [*command, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            env={**os.environ, **env, "EVENTKIT_BASE_URL": base},
            cwd=workdir,  # no .env of the checkout is read
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    output = (workdir / "serve.log").read_text(errors="replace")
                    raise RuntimeError(f"eventkit serve exited ({proc.returncode}):\n{output}")
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("eventkit serve did not answer /healthz within 60 s")
                time.sleep(0.1)
            yield proc, base
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Connection:
    """One client's keep-alive HTTP/1.1 connection, on asyncio streams.

    The load comes from this process, on the same two cores as the server: a full client library (httpx
    costs about 5 ms of CPU per request here) would take a core away from the server it measures. This
    speaks just what the benchmark needs: a request with a JSON body, an answer with a Content-Length.
    """

    def __init__(self, base: str):
        parts = httpx.URL(base)
        self.host, self.port = parts.host, parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        payload = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Length: {len(payload)}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        self.writer.write(head.encode("ascii") + b"\r\n" + payload)
        status_line = await self.reader.readuntil(b"\r\n")
        length, close = 0, False
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        answer = await self.reader.readexactly(length)
        if close:
            await self.close()
        return int(status_line.split()[1]), answer

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def load(base: str, slug: str, bodies: list[dict[str, Any]], clients: int, run: Run) -> None:
    """Every client sends the next waiting body as soon as it has its answer, until none is left."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    connections = [Connection(base) for _ in range(clients)]
    try:
        # warm-up: each client opens its connection and has a read answered before the clock runs
        for status, answer in await asyncio.gather(*(c.request("GET", f"/api/events/{slug}") for c in connections)):
            if status != 200:
                raise RuntimeError(f"warm-up: GET /api/events/{slug} answered {status}: {answer[:200]!r}")
        start = asyncio.Event()
        began = 0.0

        async def client(connection: Connection) -> None:
            await start.wait()
            while not queue.empty():
                body = queue.get_nowait()
                t0 = time.perf_counter()
                try:
                    status, answer = await connection.request("POST", f"/api/events/{slug}/registrations", body)
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                    run.latencies_ms.append((time.perf_counter() - t0) * 1000)
                    run.sent_at_s.append(t0 - began)
                    run.outcomes["no answer"] += 1
                    run.errors.append(f"{body['email']}: {type(exc).__name__} {exc}")
                    await connection.close()
                    continue
                run.latencies_ms.append((time.perf_counter() - t0) * 1000)
                run.sent_at_s.append(t0 - began)
                if status == 201:
                    run.outcomes[json.loads(answer)["status"]] += 1
                else:
                    run.outcomes[f"HTTP {status}"] += 1
                    run.errors.append(f"{body['email']}: {status} {answer[:200].decode(errors='replace')}")

        tasks = [asyncio.create_task(client(c)) for c in connections]
        t0 = began = time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        run.wall = time.perf_counter() - t0
    finally:
        await asyncio.gather(*(c.close() for c in connections))


def wait_for_mail(directory: Path, expected: int, timeout: float) -> tuple[int, float]:
    """How many emails are in the mail directory, once all are there or after timeout seconds."""
    t0 = time.monotonic()
    while True:
        count = sum(1 for _ in directory.glob("*.eml")) if directory.is_dir() else 0
        if count >= expected or time.monotonic() - t0 >= timeout:
            return count, time.monotonic() - t0
        time.sleep(0.1)


def bench(database: str, url: str | None, args: argparse.Namespace, profiler: str | None) -> Run:
    """One database: set up, serve, load, then collect the figures (url None: SQLite in the run's directory)."""
    run = Run(database)
    with tempfile.TemporaryDirectory(prefix=f"ek-bench-registration-{database}-") as tmp:
        workdir = Path(tmp)
        env = {
            "EVENTKIT_DATABASE_URL": url or f"sqlite:///{workdir / 'eventkit.sqlite3'}",
            "EVENTKIT_SECRET_KEY": "benchmark-" + secrets.token_hex(8),
            "EVENTKIT_MAIL_DIR": str(workdir / "mail"),
            "EVENTKIT_VAR_DIR": str(workdir / "var"),
            "EVENTKIT_SMTP_URL": "",
            "EVENTKIT_DELIVERY": "inline",
            "EVENTKIT_RATE_LIMIT": "off",
            "EVENTKIT_ADMIN_TOKEN": ADMIN_TOKEN,
            "EVENTKIT_LANGUAGE": "de",
        }
        t0 = time.perf_counter()
        slug, bodies = set_up(env, workdir, args.requests, args.capacity)
        run.requests = len(bodies)
        print(f"{database}: set-up (event, {len(bodies)} invitations made and sent): {time.perf_counter() - t0:.1f} s")
        with server(env, workdir, args.workers) as (proc, base):
            spy = None
            if profiler:
                out = Path(args.profile) / f"registration-{database}.txt"
                spy = subprocess.Popen(
                    [profiler, "record", "--pid", str(proc.pid), "--rate", "250", "--format", "raw", "--threads"]
                    # the samples that hold the GIL (CPU, not waiting), of the app and its delivery process
                    + ["--gil", "--subprocesses", "--nonblocking", "--output", str(out)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(1)
            on_postgres = database == "postgres"
            server0, client0 = cpu_seconds(proc.pid), time.process_time()
            db0 = postgres_cpu_seconds() if on_postgres else 0.0
            asyncio.run(load(base, slug, bodies, args.clients, run))
            run.server_cpu = cpu_seconds(proc.pid) - server0
            run.client_cpu = time.process_time() - client0
            run.database_cpu = postgres_cpu_seconds() - db0 if on_postgres else None
            run.delivered, run.delivery_wait = wait_for_mail(workdir / "mail", len(bodies), args.mail_timeout)
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes what it has and ends
                spy.wait(60)
            listing = httpx.get(
                f"{base}/api/events/{slug}/registrations",
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                timeout=60,
            )
            listing.raise_for_status()
            run.final = Counter(r["status"] for r in listing.json()["registrations"])
        # the server logs warnings and errors only: anything after its start-up line is worth seeing
        run.server_log = (workdir / "serve.log").read_text(encoding="utf-8", errors="replace").splitlines()[1:]
    return run


def timeline(run: Run, directory: Path) -> None:
    """Each request's start and latency, in the order they were sent: where in the run the slow ones lie."""
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"timeline-{run.database}.csv"
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["sent_at_s", "latency_ms"])
        for sent, latency in sorted(zip(run.sent_at_s, run.latencies_ms, strict=True)):
            writer.writerow([f"{sent:.4f}", f"{latency:.1f}"])
    print(f"{run.database}: timeline of the requests in {out}")


def report(run: Run, args: argparse.Namespace) -> None:
    db, n = run.database, run.requests
    met = {True: "met", False: "MISSED"}
    print(
        f"{db}: {n} requests in {run.wall:.2f} s: {run.rps:.1f} requests/s "
        f"(target >= {TARGET_RPS:.0f}: {met[run.rps >= TARGET_RPS]})"
    )
    mean, p99 = sum(run.latencies_ms) / len(run.latencies_ms), run.p(99)
    print(
        f"{db}: latency p50 {run.p(50):.1f} ms, p95 {run.p(95):.1f} ms, p99 {p99:.1f} ms, "
        f"max {max(run.latencies_ms):.1f} ms (target p99 <= {TARGET_P99_MS:.0f} ms: {met[p99 <= TARGET_P99_MS]}); "
        f"mean {mean:.1f} ms ({args.clients} clients / throughput: {args.clients / run.rps * 1000:.0f} ms)"
    )
    print(f"{db}: responses: {', '.join(f'{k} {v}' for k, v in sorted(run.outcomes.items()))}")
    for line in run.errors[:10]:
        print(f"{db}:   not 201: {line}")
    if len(run.errors) > 10:
        print(f"{db}:   ... and {len(run.errors) - 10} more")
    others = sum(run.final.values()) - run.final["registered"] - run.final["waitlisted"]
    print(
        f"{db}: final list (admin API): registered {run.final['registered']} of {args.capacity} places, "
        f"waitlisted {run.final['waitlisted']}, other {others}; overbooked {run.overbooked(args.capacity)}"
    )
    late = (
        "" if run.delivered >= n else f"; WARNING: {n - run.delivered} not delivered within {args.mail_timeout:.0f} s"
    )
    print(
        f"{db}: confirmation emails delivered by the server: {run.delivered} of {n} "
        f"(all there {run.delivery_wait:.1f} s after the last response{late})"
    )
    if run.server_log:
        print(f"{db}: the server logged {len(run.server_log)} lines; the last ones:")
        for line in run.server_log[-20:]:
            print(f"{db}:   | {line}")
    database = ""
    if run.database_cpu is not None:
        database = f", PostgreSQL {run.database_cpu:.2f} s ({run.database_cpu / n * 1000:.2f} ms/request)"
    print(
        f"{db}: CPU during the run: server {run.server_cpu:.2f} s ({run.server_cpu / n * 1000:.2f} ms/request, "
        f"{run.server_cpu / run.wall:.0%} of a core), client {run.client_cpu:.2f} s "
        f"({run.client_cpu / n * 1000:.2f} ms/request, {run.client_cpu / run.wall:.0%} of a core){database}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--workers", type=int, default=1, help="server worker processes, `eventkit serve --workers` (default 1)"
    )
    parser.add_argument("--requests", type=int, default=1000, help="registrations in all (default 1000)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--capacity", type=int, default=300, help="places of the event (default 300)")
    parser.add_argument("--databases", default="sqlite,postgres", help="sqlite, postgres or both (default)")
    parser.add_argument("--mail-timeout", type=float, default=120, help="seconds to wait for the emails (default 120)")
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="sample the server with py-spy (on PATH) during the run; collapsed stacks in DIR/registration-<db>.txt",
    )
    parser.add_argument(
        "--timeline",
        metavar="DIR",
        help="write each request's start (s from the start of the load) and latency to DIR/timeline-<db>.csv",
    )
    args = parser.parse_args()
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    unknown = set(databases) - {"sqlite", "postgres"}
    if unknown:
        parser.error(f"--databases: unknown {', '.join(sorted(unknown))} (known: sqlite, postgres)")
    profiler = None
    if args.profile:
        profiler = shutil.which("py-spy")
        if profiler is None:
            parser.error("--profile needs py-spy on PATH (e.g. pip install --target /tmp/pyspy py-spy)")
        Path(args.profile).mkdir(parents=True, exist_ok=True)

    load1, load5, _ = os.getloadavg()
    print(
        f"registration benchmark: {args.requests} registrations with personal invitation links from {args.clients} "
        f"concurrent clients (one keep-alive connection each), {args.capacity} places; `eventkit serve --workers "
        f"{args.workers}` delivering its emails from its own child process; {os.cpu_count()} cores shared "
        f"by server and clients, load average {load1:.2f} (1 min) {load5:.2f} (5 min) before the run"
    )
    print(
        "rate limit off (EVENTKIT_RATE_LIMIT=off): every client comes from 127.0.0.1, which the default limit "
        "(10/minute per address) would refuse; warm-up: one GET /api/events/<slug> per client before the clock runs"
    )
    print(
        f"target on each database: >= {TARGET_RPS:.0f} requests/s, p99 <= {TARGET_P99_MS:.0f} ms, overbooked 0. "
        f"A client sends again as soon as it is answered, so mean latency = {args.clients} / throughput "
        f"(Little's law): p99 <= {TARGET_P99_MS:.0f} ms needs well over "
        f"{args.clients / TARGET_P99_MS * 1000:.0f} requests/s"
    )
    results: dict[str, Run] = {}
    for database in databases:
        if database == "sqlite":
            results[database] = bench(database, None, args, profiler)
        elif (why := postgres_unreachable()) is not None:
            print(f"postgres: skipped, {POSTGRES_URL} cannot be reached ({why}); `make services` starts it")
            continue
        else:
            with postgres_schema() as url:
                results[database] = bench(database, url, args, profiler)
        report(results[database], args)
        if args.timeline:
            timeline(results[database], Path(args.timeline))

    def figures(name: str) -> str:
        run = results.get(name)
        rps, p99 = (run.rps, run.p(99)) if run else (math.nan, math.nan)
        return f"{name}_rps={rps:.1f} {name}_p99_ms={p99:.1f}"

    overbooked = sum(run.overbooked(args.capacity) for run in results.values())
    print(f"RESULT {figures('sqlite')} {figures('postgres')} overbooked={overbooked}")


if __name__ == "__main__":
    main()
