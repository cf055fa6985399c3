"""`eventkit invite SLUG`: the invitations of an event, sent by the send-invitations flow.

From the command line the run does not wait for the retries with back-off that runs on a worker make: what the
relay defers or cannot take stays queued for the next run or the delivery sweep, and the command says so, how
many wait, and exits non-zero. Its last line counts everything not sent yet, whoever holds it.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from eventkit import runtime
from eventkit.cli.lazy import LazyFunction
from eventkit.cli.messages import _, user_errors
from eventkit.core.settings import Settings
from eventkit.events.events import load_event
from eventkit.invitations import invitations
from eventkit.mail import delivery
from eventkit.mail.outbox import DeliveryReport
from eventkit.model.invitees import read_invitees
from eventkit.runtime import Runtime

send_invitations = LazyFunction("flows.invitations:send_invitations")


@click.command()
@click.argument("slug")
@click.option(
    "--invitees",
    "invitees_file",
    type=click.Path(path_type=Path),
    default=None,
    help="CSV with the columns email, name, organisation, language.",
)
@user_errors
def invite(slug: str, invitees_file: Path | None) -> None:
    """Send the invitations of event SLUG (runs the send-invitations flow)."""
    settings = Settings.from_env()
    rt = runtime.configure(settings)
    with rt.store.session() as session:
        load_event(session, slug)
    if invitees_file is not None:
        # every mistake in the file is reported before anything is stored; the flow reads the file again itself
        count = len(read_invitees(invitees_file))
        click.echo(_("%(count)s invitees read from %(file)s.", count=count, file=str(invitees_file)), err=True)
    try:
        with _interrupt_stops_deliveries(rt):
            _run_invitations(slug, str(invitees_file.resolve()) if invitees_file else None)
    except KeyboardInterrupt:
        report = invitations.delivery_report(rt.store, slug)
        click.echo(
            _(
                "Interrupted: %(sent)s invitations sent, %(waiting)s not sent yet. They stay queued: run this "
                "command again to send them.",
                sent=report.sent,
                waiting=report.not_sent,
            ),
            err=True,
        )
        sys.exit(130)
    report = invitations.delivery_report(rt.store, slug)
    _explain(settings, report)
    click.echo(
        _(
            "Invitations for %(slug)s: %(sent)s sent, %(failed)s failed, %(waiting)s not sent yet.",
            slug=slug,
            sent=report.sent,
            failed=report.failed,
            waiting=report.not_sent,
        )
    )
    if report.failed or report.not_sent:
        sys.exit(1)


def _explain(settings: Settings, report: DeliveryReport) -> None:
    """Why invitations are not sent yet: the relay is down, it deferred them, or another run holds them."""
    if report.unreachable and settings.smtp is not None:
        click.echo(
            _(
                "The mail relay %(relay)s cannot be reached (%(detail)s). %(count)s invitations wait in the "
                "queue: the next run of this command or the delivery sweep sends them.",
                relay=f"{settings.smtp.host}:{settings.smtp.port}",
                detail=report.unreachable,
                count=report.waiting,
            ),
            err=True,
        )
    elif report.waiting:
        click.echo(
            _(
                "The mail relay deferred %(count)s invitations (%(detail)s). They wait in the queue: the next run "
                "of this command or the delivery sweep sends them.",
                count=report.waiting,
                detail=report.deferrals[0][2] if report.deferrals else "",
            ),
            err=True,
        )
    if report.in_flight:
        click.echo(
            _(
                "%(count)s invitations are being sent by another run of this campaign right now; run this command "
                "again when it has finished.",
                count=report.in_flight,
            ),
            err=True,
        )


@contextmanager
def _interrupt_stops_deliveries(rt: Runtime) -> Iterator[None]:
    """Ctrl-C first tells the deliveries to stop (delivery.STOPPING): their threads never hear the signal and
    would finish their batches; they stop after the message in flight instead. A second Ctrl-C acts as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def interrupted(signum: int, frame: Any) -> None:
        rt.local(delivery.STOPPING).set()
        signal.signal(signal.SIGINT, previous)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _run_invitations(slug: str, invitees_csv: str | None) -> None:
    # no retries from the command line: a deferral or a relay that is down ends the run at once, the rest
    # waits in the queue (the retries with back-off are for runs on a worker)
    state = send_invitations(slug, invitees_csv, retry_deferred=False, return_state=True)
    report = invitations.delivery_report(runtime.get().store, slug)
    if state.is_failed() and not report.waiting:
        # not a delivery problem: show what went wrong without a traceback
        click.echo(_("The send-invitations run failed: %(detail)s", detail=state.message or ""), err=True)
        sys.exit(1)
