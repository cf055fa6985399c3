"""`eventkit demo`: the example events of examples/, run through their flows on embedded defaults."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eventkit.settings import PROJECT_ROOT, Settings
from eventkit.validation import N_

EXAMPLES_DIR = PROJECT_ROOT / "examples"


def demo_settings(out: Path) -> Settings:
    env = {k: v for k, v in os.environ.items() if k.startswith("EVENTKIT_")}
    env.pop("EVENTKIT_SMTP_URL", None)  # the demo never mails real people: embedded .eml files only
    env.update(
        EVENTKIT_DATABASE_URL=f"sqlite:///{out / 'eventkit.sqlite3'}",
        EVENTKIT_MAIL_DIR=str(out / "mail"),
        EVENTKIT_VAR_DIR=str(out),
    )
    return Settings.from_env(env)


def _reset(out: Path) -> None:
    """Remove only what an earlier demo left in OUT, so that a rerun starts from nothing."""
    shutil.rmtree(out / "mail", ignore_errors=True)
    for name in ("eventkit.sqlite3", "eventkit.sqlite3-wal", "eventkit.sqlite3-shm"):
        (out / name).unlink(missing_ok=True)


def run_demo(out: Path, *, echo: Callable[[str], Any], translate: Callable[..., str]) -> None:
    from eventkit import runtime
    from eventkit.events import save_event
    from eventkit.invitees import read_invitees
    from eventkit.spec import load_spec

    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    _reset(out)
    settings = demo_settings(out)
    rt = runtime.configure(settings)
    from eventkit import invitations
    from flows.invitations import send_invitations

    specs = sorted(p for p in EXAMPLES_DIR.glob("*.yaml"))
    echo(translate(N_("eventkit demo: %(count)s example events from %(dir)s"), count=len(specs), dir=str(EXAMPLES_DIR)))
    rows = []
    started = time.perf_counter()
    for spec_path in specs:
        spec = load_spec(spec_path, settings.template_dir)
        save_event(rt.store, settings, spec)
        csv_path = spec_path.with_name(f"{spec_path.stem}-invitees.csv")
        count = len(read_invitees(csv_path)) if csv_path.is_file() else 0
        t0 = time.perf_counter()
        state = send_invitations(spec.slug, str(csv_path) if count else None, return_state=True)
        report = invitations.delivery_report(rt.store, spec.slug)
        rows.append((spec, count, report, time.perf_counter() - t0, state.is_completed()))
    echo("")
    header = f"{'event':38} {'format':16} {'date':10} {'invitees':>8} {'sent':>5} {'failed':>6}  run"
    echo(header)
    echo("-" * len(header))
    for spec, count, report, seconds, ok in rows:
        echo(
            f"{spec.slug:38} {spec.format:16} {spec.start.date().isoformat():10} {count:>8} {report.sent:>5} "
            f"{report.failed:>6}  {'ok' if ok else 'FAILED'} ({seconds:.1f} s)"
        )
    echo("")
    _simulate_registrations(rt, specs, echo=echo, translate=translate)
    mails = sorted((out / "mail").glob("*.eml"))
    echo("")
    echo(
        translate(
            N_("%(count)s emails written to %(dir)s in %(seconds).1f s."),
            count=len(mails),
            dir=str(out / "mail"),
            seconds=time.perf_counter() - started,
        )
    )
    if not all(ok for *_, ok in rows):
        raise SystemExit(1)


def _invitation_tokens(rt: Any, slug: str) -> dict[str, str]:
    """Each invitee's personal token, read back from the invitation emails (as the invitee's browser would)."""
    import email
    import re

    from sqlalchemy import select

    from eventkit.events import load_event
    from eventkit.store import OutboxMessage, Person

    tokens = {}
    with rt.store.session() as session:
        event, _spec = load_event(session, slug)
        rows = session.execute(
            select(Person.email, OutboxMessage.raw)
            .join(Person, Person.id == OutboxMessage.person_id)
            .where(OutboxMessage.event_id == event.id, OutboxMessage.kind == "invitation")
        )
        for address, raw in rows:
            msg = email.message_from_bytes(raw or b"")
            for part in msg.walk():
                payload = part.get_payload(decode=True)
                if part.get_content_type() == "text/plain" and isinstance(payload, bytes):
                    match = re.search(r"/register\?t=([A-Za-z0-9_-]+)", payload.decode())
                    if match:
                        tokens[address] = match.group(1)
    return tokens


def _simulate_registrations(
    rt: Any, specs: list[Path], *, echo: Callable[[str], Any], translate: Callable[..., str]
) -> None:
    """Registrations as the web app makes them: invitees follow their links (about two in three register),
    one person registers through the public link with double opt-in, the BarCamp fills up so that one
    cancellation promotes the first person waiting. The emails are delivered like the app's."""
    import asyncio
    from datetime import timedelta

    from eventkit import delivery, registrations
    from eventkit.invitees import read_invitees
    from eventkit.registration_form import RegistrationInput
    from eventkit.spec import load_spec
    from eventkit.store import Registration
    from eventkit.transport import transport_for

    echo(translate(N_("Registrations (simulated, through the same code as the web app):")))
    for spec_path in specs:
        spec = load_spec(spec_path, rt.settings.template_dir)
        csv_path = spec_path.with_name(f"{spec_path.stem}-invitees.csv")
        invitees = read_invitees(csv_path) if csv_path.is_file() else []
        tokens = _invitation_tokens(rt, spec.slug)
        now = (spec.registration_deadline or spec.start) - timedelta(days=14)
        fill = spec.format == "barcamp"  # the BarCamp is popular: everyone invited wants to come
        outcomes = []
        for index, invitee in enumerate(invitees):
            if not fill and index % 3 == 2:
                continue
            answers = {"support_needs": ["step_free"]} if index == 1 else {}
            data = RegistrationInput(invitee.name, invitee.email, invitee.organisation, invitee.language, answers)
            outcomes.append(
                registrations.submit(rt, spec.slug, data, invitation_token=tokens.get(invitee.email), now=now)
            )
        if spec.format == "fachvernetzung":
            guest = RegistrationInput("Zeynep Aydın", "zeynep.aydin@example.org", "Frauennetzwerk Gifhorn", "de", {})
            pending = registrations.submit(rt, spec.slug, guest, now=now)
            with rt.store.session() as session:
                registration = session.get(Registration, pending.registration_id)
                assert registration is not None
                token = registrations.confirm_token(rt, registration)
            registrations.confirm(rt, spec.slug, token, now=now + timedelta(hours=2))
        promoted = None
        if fill:
            first = next(o for o in outcomes if o.status == "registered" and o.manage_token)
            assert first.manage_token is not None
            promoted = registrations.cancel(rt, spec.slug, first.manage_token, now=now + timedelta(days=1)).promoted
        done = asyncio.run(delivery.deliver_pending(rt.store, transport_for(rt.settings), rt=rt))
        counts = registrations.counts(rt, spec.slug)
        echo(
            "  "
            + translate(
                N_(
                    "%(slug)s: %(registered)s registered, %(waiting)s waiting, %(cancelled)s cancelled, "
                    "%(promoted)s promoted from the waiting list; %(sent)s emails"
                ),
                slug=spec.slug,
                registered=counts.get("registered", 0),
                waiting=counts.get("waitlisted", 0),
                cancelled=counts.get("cancelled", 0),
                promoted=1 if promoted else 0,
                sent=done.sent,
            )
        )
