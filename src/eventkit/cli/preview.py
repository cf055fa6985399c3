"""`eventkit formats` and `eventkit preview FORMAT EMAIL`: the meeting formats and their emails, with sample data."""

from __future__ import annotations

from pathlib import Path

import click

from eventkit.cli.messages import _, current_language, user_errors
from eventkit.core.i18n import LANGUAGES
from eventkit.core.render import Renderer
from eventkit.core.settings import Settings
from eventkit.devtools.samples import sample_context
from eventkit.model.formats import discover


@click.command()
@click.argument("format_name", metavar="FORMAT")
@click.argument("email_name", metavar="EMAIL")
@click.option("--lang", "language", type=click.Choice(LANGUAGES), default="de", help="Language of the email.")
@click.option("--part", type=click.Choice(["text", "html", "both"]), default="both", help="What to print.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write subject, text and HTML files here.")
@user_errors
def preview(format_name: str, email_name: str, language: str, part: str, out: Path | None) -> None:
    """Render email EMAIL of format FORMAT with sample data."""
    settings = Settings.from_env()
    formats = discover(settings.template_dir)
    if format_name not in formats:
        raise click.BadParameter(
            _("unknown format %(value)r (known: %(choices)s)", value=format_name, choices=", ".join(formats)),
            param_hint="FORMAT",
        )
    renderer = Renderer(settings.template_dir)
    emails = renderer.email_names(format_name)
    if email_name not in emails:
        raise click.BadParameter(
            _("unknown email %(value)r (known: %(choices)s)", value=email_name, choices=", ".join(emails)),
            param_hint="EMAIL",
        )
    context = sample_context(settings.template_dir, format_name, language, settings.base_url)
    rendered = renderer.email(format_name, email_name, language, context)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        stem = f"{format_name}-{email_name}-{language}"
        (out / f"{stem}.txt").write_text(f"Subject: {rendered.subject}\n\n{rendered.text}", encoding="utf-8")
        (out / f"{stem}.html").write_text(rendered.html, encoding="utf-8")
        click.echo(str(out / f"{stem}.html"))
        return
    click.echo(f"Subject: {rendered.subject}\n")
    if part in ("text", "both"):
        click.echo(rendered.text)
    if part in ("html", "both"):
        if part == "both":
            click.echo("-" * 72)
        click.echo(rendered.html)


@click.command()
def formats() -> None:
    """List the meeting formats found under templates/formats and their emails."""
    settings = Settings.from_env()
    renderer = Renderer(settings.template_dir)
    for name, fmt in discover(settings.template_dir).items():
        click.echo(f"{name:18} {fmt.title.get(current_language())}  [{', '.join(renderer.email_names(name))}]")
