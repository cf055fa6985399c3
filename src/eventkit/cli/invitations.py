"""`eventkit invite SLUG`: the invitations of an event, sent by the send-invitations flow."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from eventkit import runtime
from eventkit.cli.lazy import LazyFunction
from eventkit.cli.messages import _, user_errors
from eventkit.core.settings import Settings
from eventkit.events.events import load_event
from eventkit.invitations import invitations
from eventkit.model.invitees import read_invitees

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
    result = _run_invitations(slug, str(invitees_file.resolve()) if invitees_file else None)
    click.echo(
        _(
            "Invitations for %(slug)s: %(sent)s sent, %(failed)s failed, %(waiting)s waiting for a retry.",
            slug=slug,
            **result,
        )
    )
    if result["failed"] or result["waiting"]:
        sys.exit(1)


def _run_invitations(slug: str, invitees_csv: str | None) -> dict[str, int]:
    state = send_invitations(slug, invitees_csv, return_state=True)
    report = invitations.delivery_report(runtime.get().store, slug)
    if state.is_failed() and not report.waiting:
        # not a delivery problem: show what went wrong without a traceback
        click.echo(_("The send-invitations run failed: %(detail)s", detail=state.message or ""), err=True)
        sys.exit(1)
    return {"sent": report.sent, "failed": report.failed, "waiting": report.waiting}
