"""The privacy commands: `eventkit person export|forget EMAIL` and `eventkit purge`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from email_validator import EmailNotValidError, validate_email

from eventkit import runtime
from eventkit.cli.messages import _, user_errors
from eventkit.core.settings import Settings
from eventkit.privacy.privacy import export_person, forget_person
from eventkit.privacy.retention import purge as run_purge


def _address(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise click.BadParameter(_("%(value)r is not an email address", value=email), param_hint="EMAIL") from None


@click.group()
def person() -> None:
    """What eventkit stores about a person: export it (DSGVO Art. 15, 20) or erase it (Art. 17)."""


@person.command("export")
@click.argument("email")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write the JSON to this file.")
@user_errors
def person_export(email: str, out: Path | None) -> None:
    """Everything stored about EMAIL as JSON (to standard output, or --out FILE)."""
    address = _address(email)
    rt = runtime.configure(Settings.from_env())
    data = export_person(rt, address)
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(_("Wrote what is stored about %(email)s to %(file)s.", email=address, file=str(out)), err=True)
    if not data["found"]:
        click.echo(_("Nothing is stored about %(email)s.", email=address), err=True)


@person.command("forget")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask before erasing.")
@user_errors
def person_forget(email: str, yes: bool) -> None:
    """Erase EMAIL everywhere, keeping only what a funder's retention still requires (and saying so)."""
    address = _address(email)
    rt = runtime.configure(Settings.from_env())
    if not yes and not click.confirm(
        _("Erase everything stored about %(email)s? This cannot be undone.", email=address), err=True
    ):
        click.echo(_("Nothing was changed."), err=True)
        sys.exit(1)
    report = forget_person(rt, address)
    if not report.found:
        click.echo(_("Nothing is stored about %(email)s.", email=address))
        return
    counts = report.counts
    click.echo(
        _(
            "Erased %(email)s: %(registrations)s registrations, %(invitations)s invitations, "
            "%(consents)s consent records; %(emails)s emails emptied.",
            email=address,
            registrations=counts.get("registrations_deleted", 0),
            invitations=counts.get("invitations_deleted", 0),
            consents=counts.get("consents_deleted", 0),
            emails=counts.get("emails_blanked", 0),
        )
    )
    for kept in report.kept:
        click.echo(
            _(
                "Kept for %(event)s until %(until)s: name and organisation on the attendance record, because "
                "the event is funded and the funder requires it. The address and everything else are gone.",
                event=kept["event"],
                until=kept["until"],
            )
        )
    for path in report.files_to_check:
        click.echo(_("This file was made before and may still name the person: %(file)s", file=path))
    for slug in report.series:
        click.echo(_("Taken off the member list of series %(series)s. Take them off the series file's members CSV "
                     "too, or the next series update adds them again.", series=slug))  # fmt: skip
    if counts.get("active_registrations_removed"):
        click.echo(
            _(
                "%(count)s registrations for events still to come were removed; their places are free again.",
                count=counts["active_registrations_removed"],
            )
        )


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Only report what would be deleted.")
@click.option("--event", "slug", default=None, metavar="SLUG", help="Only this event (default: every event due).")
@user_errors
def purge(dry_run: bool, slug: str | None) -> None:
    """Delete the personal data of every event whose retention period has passed (see README, Privacy)."""
    rt = runtime.configure(Settings.from_env())
    report = run_purge(rt, slug=slug, dry_run=dry_run)
    if dry_run:
        click.echo(_("Dry run: nothing was changed."))
    stages = {
        "not due": _("not due yet"),
        "personal data": _("personal data deleted"),
        "funder record": _("funder record deleted"),
        "nothing left": _("nothing left to delete"),
    }
    for entry in report.events:
        counts = entry.counts
        click.echo(
            _(
                "%(slug)s: %(stage)s; %(deleted)s registrations deleted, %(kept)s kept for the funder, "
                "%(emails)s emails emptied, %(people)s people deleted, %(anonymised)s anonymised.",
                slug=entry.slug,
                stage=", ".join(stages.get(part, part) for part in entry.stage.split(", ")),
                deleted=counts.get("registrations_deleted", 0) + counts.get("attendance_records_deleted", 0),
                kept=counts.get("registrations_kept_for_funder", 0),
                emails=counts.get("emails_blanked", 0),
                people=counts.get("people_deleted", 0),
                anonymised=counts.get("people_anonymised", 0),
            )
        )
    click.echo(_("%(count)s events are not due yet.", count=report.not_due))
    for slug in report.series_members_purged:
        click.echo(_("Series %(series)s: its last meeting is past its retention; member list emptied.", series=slug))
