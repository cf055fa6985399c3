"""`eventkit mailsink`: a local SMTP server that keeps every message as an .eml file (needs the dev extra)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from eventkit.cli.messages import _, user_errors
from eventkit.devtools.mailsink import MailSink


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=1025, show_default=True, type=int)
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=Path("var/mailsink"), show_default=True)
@user_errors
def mailsink(host: str, port: int, directory: Path) -> None:
    """Run a local SMTP server that stores every message it receives as an .eml file."""
    sink = MailSink(host=host, port=port, directory=directory)
    sink.handler.on_message = lambda item: click.echo(f"{item.path}  {item.mail_from} -> {', '.join(item.rcpt_tos)}")
    sink.start()
    click.echo(
        _(
            "Mail sink listening on smtp://%(host)s:%(port)s, storing in %(dir)s (Ctrl-C to stop).",
            host=host,
            port=port,
            dir=str(directory),
        )
    )
    click.echo(f"EVENTKIT_SMTP_URL=smtp://{host}:{port}?starttls=off")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sink.stop()
