"""Invitations benchmark: N invitees through the send-invitations flow versus a bare loop, same SMTP sink.

Both sides render the same templates (with the same per-event render cache), build the same iCalendar
invite and MIME message, and send over SMTP to one local aiosmtpd sink running in its own process.
The bare loop has no Prefect, no store, no outbox: one connection, one message after the other, which
is what a hand-written mail merge would do.

    python benchmarks/invitations.py [--n 5000]

Last line: RESULT messages_per_s=<x> ratio=<eventkit time / bare loop time> peak_rss_mb=<y>
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import multiprocessing
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = Path(os.environ.get("EVENTKIT_BENCH_SPEC") or ROOT / "examples" / "fachvernetzung-gifhorn.yaml")
FIRST = ["Ayşe", "Jörg", "محمد", "Дмитрий", "Olena", "François", "Lena", "Mehmet", "Anna", "Kofi", "Zeynep", "Paul"]
LAST = ["Yılmaz", "Müller", "الأحمد", "Иванов", "Kovalenko", "Dupont", "Schmidt", "Demir", "Nowak", "Mensah"]
ORGS = ["Interkultureller Verein Gera e.V.", "Abli e.V.", "Bündnis für Demokratie", "Städtepartnerschaft Hannover", ""]


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


def run_sink(
    port: int,
    ready: multiprocessing.synchronize.Event,
    stop: multiprocessing.synchronize.Event,
    report: multiprocessing.queues.Queue | None = None,  # type: ignore[type-arg]
) -> None:
    from aiosmtpd.controller import Controller

    class Counting:
        count = 0

        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
            Counting.count += 1
            return "250 OK"

    controller = Controller(Counting(), hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()
    if report is not None:
        report.put((Counting.count, time.process_time()))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def role_eventkit(smtp_url: str, csv_path: Path, workdir: Path) -> dict[str, float]:
    os.environ.update(
        EVENTKIT_DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}",
        EVENTKIT_SMTP_URL=smtp_url,
        EVENTKIT_VAR_DIR=str(workdir),
        EVENTKIT_SECRET_KEY="benchmark",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    from prefect import flow

    from eventkit import runtime
    from eventkit.events.events import save_event
    from eventkit.invitations import invitations
    from eventkit.model.spec import load_spec
    from flows.invitations import send_invitations

    @flow
    def warm_up() -> None:
        """Start the Prefect API before the clock runs: its start-up is not part of sending."""

    warm_up()
    rt = runtime.configure()
    spec = load_spec(SPEC, rt.settings.template_dir)
    t0, cpu0 = time.perf_counter(), time.process_time()
    save_event(rt.store, rt.settings, spec)
    send_invitations(spec.slug, str(csv_path))
    elapsed = time.perf_counter() - t0
    report = invitations.delivery_report(rt.store, spec.slug)
    return {"seconds": elapsed, "sent": report.sent, "peak_rss_mb": peak_rss_mb(), "cpu": time.process_time() - cpu0}


def role_bare(smtp_url: str, csv_path: Path, workdir: Path) -> dict[str, float]:
    """The same work with no Prefect and no store: read, render, invite, build, send."""
    os.environ.update(EVENTKIT_VAR_DIR=str(workdir), EVENTKIT_SECRET_KEY="benchmark")
    from datetime import UTC, datetime
    from types import SimpleNamespace

    import aiosmtplib

    from eventkit.core.render import Renderer
    from eventkit.core.settings import Settings
    from eventkit.core.tokens import new_token
    from eventkit.db.store import Event
    from eventkit.events.events import calendar_event, event_view, format_for, public_url
    from eventkit.mail.compose import Recipient, message_id
    from eventkit.mail.ical import Invite
    from eventkit.mail.mime import CalendarPart, Message, ascii_address
    from eventkit.model.invitees import read_invitees
    from eventkit.model.spec import load_spec

    settings = Settings.from_env()
    renderer = Renderer(settings.template_dir)
    spec = load_spec(SPEC, settings.template_dir)
    fmt = format_for(settings, spec.format)
    event = Event(uid=f"{spec.slug}@bench", sequence=0, status="scheduled", updated_at=datetime.now(UTC))
    view = event_view(spec, fmt)
    host, port = smtp_url.split("//")[1].split("?")[0].split(":")

    async def main() -> int:
        t_invitees = read_invitees(csv_path)
        invites: dict[str, Invite] = {}
        shared: dict[str, dict[str, object]] = {}  # the renderer's per-event cache, as eventkit uses it
        sent = 0
        smtp = aiosmtplib.SMTP(hostname=host, port=int(port), start_tls=False)
        await smtp.connect()
        for inv in t_invitees:
            lang = inv.language or spec.language
            if lang not in invites:
                invites[lang] = Invite(calendar_event(event, spec, settings, lang))
                shared[lang] = {}
            recipient = Recipient(inv.name, inv.email, inv.organisation, lang)
            ctx = {
                "event": view,
                "format": SimpleNamespace(
                    name=fmt.name, title=fmt.title.get(lang), description=fmt.description.get(lang)
                ),
                "recipient": recipient,
                "links": SimpleNamespace(
                    register=f"{settings.base_url}/e/{spec.slug}/register?t={new_token()}",
                    event=public_url(settings, spec.slug),
                ),
            }
            rendered = renderer.email(fmt.name, "invitation", lang, ctx, shared=shared[lang])
            raw, utf8 = Message(
                sender=(spec.organiser.name, settings.mail_from),
                to=(inv.name, inv.email),
                reply_to=(spec.organiser.name, spec.organiser.email),
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                message_id=message_id(settings),
                date=datetime.now(UTC),
                language=lang,
                calendar=CalendarPart(invites[lang].for_attendee(inv.name, inv.email), "REQUEST", "invite.ics"),
            ).build()
            await smtp.sendmail(
                ascii_address(settings.mail_from)[0],
                [ascii_address(inv.email)[0]],
                raw,
                mail_options=["SMTPUTF8"] if utf8 else [],
            )
            sent += 1
        await smtp.quit()
        return sent

    t0, cpu0 = time.perf_counter(), time.process_time()
    sent = asyncio.run(main())
    return {
        "seconds": time.perf_counter() - t0,
        "sent": sent,
        "peak_rss_mb": peak_rss_mb(),
        "cpu": time.process_time() - cpu0,
    }


def child(role: str, smtp_url: str, csv_path: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix=f"ek-bench-{role}-") as workdir:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--role",
                role,
                "--smtp-url",
                smtp_url,
                "--csv",
                str(csv_path),
                "--workdir",
                workdir,
            ],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000, help="number of invitees (default 5000)")
    parser.add_argument("--role", choices=["eventkit", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--smtp-url", help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        sys.path.insert(0, str(ROOT))
        fn = role_eventkit if args.role == "eventkit" else role_bare
        print(json.dumps(fn(args.smtp_url, args.csv, args.workdir)))
        return

    from eventkit.devtools.mailsink import free_port

    port = free_port()
    ready, stop, report = multiprocessing.Event(), multiprocessing.Event(), multiprocessing.Queue()
    sink = multiprocessing.Process(target=run_sink, args=(port, ready, stop, report), daemon=True)
    sink.start()
    ready.wait(30)
    smtp_url = f"smtp://127.0.0.1:{port}?starttls=off"
    try:
        with tempfile.TemporaryDirectory(prefix="ek-bench-") as tmp:
            csv_path = Path(tmp) / "invitees.csv"
            write_invitees(csv_path, args.n)
            print(
                f"invitations benchmark: {args.n} invitees, SMTP sink {smtp_url} (own process), {os.cpu_count()} cores"
            )
            bare = child("bare", smtp_url, csv_path)
            print(
                f"bare loop (baseline): {bare['seconds']:.2f} s, {bare['sent'] / bare['seconds']:.0f} messages/s, "
                f"peak RSS {bare['peak_rss_mb']:.0f} MB, CPU {bare['cpu']:.1f} s"
            )
            ek = child("eventkit", smtp_url, csv_path)
            print(
                f"eventkit send-invitations flow: {ek['seconds']:.2f} s, {ek['sent'] / ek['seconds']:.0f} messages/s, "
                f"peak RSS {ek['peak_rss_mb']:.0f} MB, CPU {ek['cpu']:.1f} s, sent {ek['sent']:.0f}"
            )
    finally:
        stop.set()
        received, sink_cpu = report.get(timeout=30)
        sink.join(10)
    # the sink runs on the other core; when its CPU time nears the wall time, it is what limits both sides
    print(f"sink: {received} messages received, {sink_cpu:.1f} s CPU ({sink_cpu / received * 1000:.2f} ms a message)")
    if ek["sent"] != args.n or bare["sent"] != args.n:
        print(f"WARNING: not every message was sent (eventkit {ek['sent']}, bare {bare['sent']})")
    ratio = ek["seconds"] / bare["seconds"]
    print(f"RESULT messages_per_s={args.n / ek['seconds']:.1f} ratio={ratio:.2f} peak_rss_mb={ek['peak_rss_mb']:.0f}")


if __name__ == "__main__":
    main()
