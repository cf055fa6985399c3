"""`eventkit sessions` and `eventkit groups`: the BarCamp's session plan and the Netzwerktreffen's working groups."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

import eventkit.features  # noqa: F401 - every feature registers its email kinds before the command delivers
from eventkit import runtime
from eventkit.cli.messages import _, current_language, user_errors
from eventkit.core.settings import Settings
from eventkit.events.events import load_event
from eventkit.mail import delivery
from eventkit.mail.transport import transport_for
from eventkit.model import planner
from eventkit.runtime import Runtime
from eventkit.sessions import planning
from eventkit.sessions.emails import enqueue_plan_emails
from eventkit.sessions.grid import NoGrid
from eventkit.sessions.groups import assign_working_groups, working_groups
from eventkit.sessions.publish import NotPublished, plan_pdf, publish


def _runtime(slug: str) -> Runtime:
    rt = runtime.configure(Settings.from_env())
    with rt.store.session() as session:
        load_event(session, slug)
    return rt


@click.group()
def sessions() -> None:
    """BarCamp sessions: plan them into the grid and publish the plan."""


@sessions.command("plan")
@click.argument("slug")
@user_errors
def sessions_plan(slug: str) -> None:
    """Plan the proposed sessions of event SLUG into its grid (a draft; sessions frozen by hand stay)."""
    rt = _runtime(slug)
    try:
        plan = planning.plan(rt, slug)
    except NoGrid:
        click.echo(
            _(
                "The event %(slug)s has no grid yet: give session_grid (or rounds and tables) in its spec, "
                "or set it on the organisers' page.",
                slug=slug,
            ),
            err=True,
        )
        raise SystemExit(2) from None
    click.echo(
        _(
            "%(placed)s sessions placed, %(unplaced)s not placed; %(served)s of %(interest)s interests served.",
            placed=len(plan.placements),
            unplaced=len(plan.unplaced),
            served=plan.served,
            interest=plan.interest,
        )
    )
    for reason in plan.reasons:
        click.echo("- " + planner.describe(reason, current_language()))


@sessions.command("publish")
@click.argument("slug")
@click.option("--send", is_flag=True, help="Email the plan to everyone registered (each version once).")
@click.option("--pdf", "pdf", type=click.Path(path_type=Path), default=None, help="Write the wall poster here.")
@user_errors
def sessions_publish(slug: str, send: bool, pdf: Path | None) -> None:
    """Publish the draft plan of event SLUG at /e/SLUG/plan (and /e/SLUG/plan.pdf)."""
    rt = _runtime(slug)
    try:
        published = publish(rt, slug)
    except (NoGrid, NotPublished, LookupError):
        click.echo(_("There is no plan to publish for %(slug)s: plan it first.", slug=slug), err=True)
        raise SystemExit(2) from None
    click.echo(_("Plan version %(version)s published.", version=published.version))
    if send:
        enqueue_plan_emails(rt, slug)
        done = asyncio.run(delivery.deliver_pending(rt.store, transport_for(rt), slug=slug, rt=rt))
        click.echo(_("%(sent)s emails sent, %(failed)s failed.", sent=done.sent, failed=done.failed))
    if pdf is not None:
        click.echo(str(plan_pdf(rt, slug, current_language(), out=pdf)))


@click.group()
def groups() -> None:
    """Netzwerktreffen working groups: assign everyone with a place to a group of their choice."""


@groups.command("assign")
@click.argument("slug")
@user_errors
def groups_assign(slug: str) -> None:
    """Assign everyone registered for event SLUG to a working group, as many first choices as possible."""
    rt = _runtime(slug)
    result = assign_working_groups(rt, slug)
    ranks = list(result.by_rank) + [0, 0]
    click.echo(
        _(
            "%(assigned)s assigned (%(first)s first choices, %(second)s second choices), %(left)s without a group.",
            assigned=len(result.assignment),
            first=ranks[0],
            second=ranks[1],
            left=len(result.unassigned),
        )
    )
    for group, members in working_groups(rt, slug).items():
        click.echo(f"{group}: {len(members)}")
