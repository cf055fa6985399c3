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
