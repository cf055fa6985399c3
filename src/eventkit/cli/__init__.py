"""The eventkit command: `main`, with each feature's commands imported from their module when one runs."""

from __future__ import annotations

import os

import click

from eventkit.cli.lazy import LazyGroup
from eventkit.core.i18n import LANGUAGES

# name: (where the command is, its summary for `eventkit --help`: the first paragraph of its help)
COMMANDS = {
    "attendance": (
        "eventkit.cli.recap:attendance",
        "The attendance list (Teilnehmendenliste) of event SLUG as a PDF, one sheet per day.",
    ),
    "db": ("eventkit.cli.db:db", "The store's schema."),
    "demo": (
        "eventkit.cli.demo:demo",
        "Run the example events of examples/ with embedded defaults and leave what they produced in OUT.",
    ),
    "event": ("eventkit.cli.events:event", "Create and update events."),
    "formats": (
        "eventkit.cli.preview:formats",
        "List the meeting formats found under templates/formats and their emails.",
    ),
    "groups": (
        "eventkit.cli.sessions:groups",
        "Netzwerktreffen working groups: assign everyone with a place to a group of their choice.",
    ),
    "invite": (
        "eventkit.cli.invitations:invite",
        "Send the invitations of event SLUG (runs the send-invitations flow).",
    ),
    "lifecycle": (
        "eventkit.cli.lifecycle:lifecycle",
        "Run the lifecycle of event SLUG: send the invitations, schedule reminders and the later phases.",
    ),
    "mailsink": (
        "eventkit.cli.mailsink:mailsink",
        "Run a local SMTP server that stores every message it receives as an .eml file.",
    ),
    "minutes": (
        "eventkit.cli.series:minutes",
        "Keep the minutes of meeting SLUG; its open tasks appear in the next meeting's invitation.",
    ),
    "person": (
        "eventkit.cli.privacy:person",
        "What eventkit stores about a person: export it (DSGVO Art. 15, 20) or erase it (Art. 17).",
    ),
    "preview": ("eventkit.cli.preview:preview", "Render email EMAIL of format FORMAT with sample data."),
    "purge": (
        "eventkit.cli.privacy:purge",
        "Delete the personal data of every event whose retention period has passed (see README, Privacy).",
    ),
    "recap": (
        "eventkit.cli.recap:recap",
        "After the event: the recap PDF and the attendance list of event SLUG, and the thank-you emails.",
    ),
    "series": (
        "eventkit.cli.series:series",
        "Recurring meetings: a series file with an RRULE, its members and its meetings.",
    ),
    "serve": (
        "eventkit.cli.serve:serve",
        "Run the web app: event pages, registration, personal pages, JSON API and organisers' pages.",
    ),
    "sessions": (
        "eventkit.cli.sessions:sessions",
        "BarCamp sessions: plan them into the grid and publish the plan.",
    ),
    "survey": ("eventkit.cli.survey:survey", "The follow-up survey: send it, remind, close and evaluate."),
}


@click.group(cls=LazyGroup, lazy=COMMANDS)
@click.option(
    "--lang",
    type=click.Choice(LANGUAGES),
    default=None,
    help="Language of messages (default: EVENTKIT_LANGUAGE or de).",
)
@click.pass_context
def main(ctx: click.Context, lang: str | None) -> None:
    """eventkit: network meetings from invitation to recap, as Prefect flows."""
    # the temporary Prefect server of an embedded run must not try to phone home (there is no network here)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    ctx.ensure_object(dict)
    if lang:
        ctx.obj["lang"] = lang
