"""`eventkit serve`: the web app (event pages, registration, personal pages, API, organisers' pages) on uvicorn."""

from __future__ import annotations

from typing import Any

import click
import uvicorn

from eventkit import runtime
from eventkit.cli.messages import _, user_errors
from eventkit.web import create_app


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--proxy/--no-proxy",
    default=False,
    help="Trust X-Forwarded-For/-Proto from a reverse proxy on this machine (for client addresses and https).",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes (one per core; the rate limit then counts per process).",
)
@user_errors
def serve(host: str, port: int, proxy: bool, workers: int) -> None:
    """Run the web app: event pages, registration, personal pages, JSON API and organisers' pages."""
    rt = runtime.configure()  # checks the settings and migrates the store once, before any worker starts
    app: Any = create_app(rt) if workers == 1 else "eventkit.web.app:app_from_env"
    click.echo(
        _(
            "eventkit serves on http://%(host)s:%(port)s (links in emails use %(base)s; Ctrl-C to stop).",
            host=host,
            port=port,
            base=rt.settings.base_url,
        )
    )
    uvicorn.run(
        app,
        factory=workers > 1,
        workers=workers,
        host=host,
        port=port,
        proxy_headers=proxy,
        forwarded_allow_ips="127.0.0.1" if proxy else None,
        access_log=False,
        log_level="warning",
    )
