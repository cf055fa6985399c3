"""`eventkit db upgrade`: the store's schema brought up to date."""

from __future__ import annotations

import click

from eventkit.cli.messages import _, user_errors
from eventkit.core.settings import Settings
from eventkit.db.store import Store


@click.group()
def db() -> None:
    """The store's schema."""


@db.command("upgrade")
@user_errors
def db_upgrade() -> None:
    """Apply every pending migration (eventkit also does this on start)."""
    settings = Settings.from_env()
    Store(settings.database_url).dispose()
    click.echo(_("The database schema is up to date."))
