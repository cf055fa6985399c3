"""The eventkit command: events, invitations, previews, the mail sink and the demo."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.exc import OperationalError

from eventkit.core.i18n import LANGUAGES, gettext_for
from eventkit.core.settings import Settings, SettingsError
from eventkit.core.validation import ValidationFailed
from eventkit.events.events import EventCancelled, EventNotFound

F = TypeVar("F", bound=Callable[..., Any])


def _lang() -> str:
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.obj and "lang" in ctx.obj:
            return str(ctx.obj["lang"])
        ctx = ctx.parent
    return os.environ.get("EVENTKIT_LANGUAGE", "de") if os.environ.get("EVENTKIT_LANGUAGE") in LANGUAGES else "de"


def _(message: str, **params: Any) -> str:
    text = gettext_for(_lang()).gettext(message)
    return text % params if params else text


def user_errors(func: F) -> F:
    """A person's mistake ends with a message naming the problem and a non-zero exit, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ValidationFailed as exc:
            click.echo(exc.render(_lang()), err=True)
            click.echo(_("Nothing was stored."), err=True)
            sys.exit(2)
        except SettingsError as exc:
            click.echo(_("Configuration error: %(detail)s", detail=str(exc)), err=True)
            sys.exit(2)
        except EventNotFound as exc:
            click.echo(
                _(
                    "No event with the slug %(slug)s. Create it first with: eventkit event create SPEC.yaml",
                    slug=exc.slug,
                ),
                err=True,
            )
            sys.exit(2)
        except EventCancelled as exc:
            click.echo(
                _(
                    "The event %(slug)s is cancelled, so its time or place cannot change any more. "
                    "For a new date, create a new event with its own slug.",
                    slug=exc.slug,
                ),
                err=True,
            )
            click.echo(_("Nothing was stored."), err=True)
            sys.exit(2)
        except OperationalError as exc:
            click.echo(_("The database cannot be reached: %(detail)s", detail=str(exc.orig)), err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


@click.group()
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


@main.group()
def event() -> None:
    """Create and update events."""


@event.command("create")
@click.argument("spec_file", type=click.Path(path_type=Path))
@user_errors
def event_create(spec_file: Path) -> None:
    """Validate SPEC_FILE and store the event (or update it); prints the event's slug."""
    from eventkit import runtime
    from eventkit.events.events import save_event
    from eventkit.model.spec import load_spec

    settings = Settings.from_env()
    spec = load_spec(spec_file, settings.template_dir)
    rt = runtime.configure(settings)
    saved = save_event(rt.store, settings, spec)
    if saved.created:
        click.echo(_("Created event %(slug)s.", slug=saved.slug), err=True)
    elif saved.changed:
        click.echo(
            _(
                "Updated event %(slug)s (changed: %(fields)s; calendar sequence %(sequence)s).",
                slug=saved.slug,
                fields=", ".join(saved.changed),
                sequence=saved.sequence,
            ),
            err=True,
        )
    else:
        click.echo(_("Updated event %(slug)s.", slug=saved.slug), err=True)
    if saved.changed:
        _announce_change(rt, saved.slug, saved.previous)
    click.echo(saved.slug)


@event.command("cancel")
@click.argument("slug")
@click.option("--reason", default=None, help="A sentence for the cancellation email, e.g. why and what comes next.")
@user_errors
def event_cancel(slug: str, reason: str | None) -> None:
    """Cancel event SLUG: tell everyone invited or registered (METHOD:CANCEL) and cancel its scheduled runs."""
    from eventkit import runtime
    from eventkit.core.validation import N_, Problems, clean_line, has_control
    from eventkit.events.changes import NotCancellable, cancel_event

    settings = Settings.from_env()
    rt = runtime.configure(settings)
    if reason is not None:
        problems = Problems()
        if has_control(reason):
            problems.add("--reason", N_("must be a single line without control characters"))
        elif len(reason) > 1000:
            problems.add(
                "--reason", N_("is too long (%(length)s characters, at most %(max)s)"), length=len(reason), max=1000
            )
        problems.raise_if_any()
        reason = clean_line(reason) or None
    try:
        sequence = cancel_event(rt, slug, reason)
    except NotCancellable as exc:
        if str(exc) == "cancelled":
            click.echo(_("The event %(slug)s is cancelled already.", slug=slug), err=True)
        else:
            click.echo(_("The event %(slug)s is over: there is nothing left to cancel.", slug=slug), err=True)
        sys.exit(2)
    click.echo(_("Cancelled event %(slug)s (calendar sequence %(sequence)s).", slug=slug, sequence=sequence), err=True)
    _announce_change(rt, slug, None, always=True)


def _announce_change(rt: Any, slug: str, previous: dict[str, Any] | None, *, always: bool = False) -> None:
    """Run event-changed (here, reporting to the Prefect server if one is configured) once people know the event."""
    from eventkit.events.changes import previous_of
    from eventkit.events.events import announced, find_event

    with rt.store.session() as session:
        if not always and not announced(session, find_event(session, slug)):
            return  # nobody has been told of the event yet: there is no one to update
    from flows.changes import event_changed

    state = event_changed(slug, previous_of(previous) if previous else None, return_state=True)
    if state.is_failed():
        click.echo(_("The event-changed run failed: %(detail)s", detail=state.message or ""), err=True)
        sys.exit(1)
    result = state.result()
    written, sent = result["written"], result["sent"]
    click.echo(
        _(
            "Told %(people)s people of the change (%(sent)s sent, %(failed)s failed, %(waiting)s waiting); "
            "%(runs)s scheduled runs moved or cancelled.",
            people=written["emails"] + written["already"],
            sent=sent["sent"],
            failed=sent["failed"],
            waiting=sent["retry"],
            runs=len(result["runs"]),
        ),
        err=True,
    )


@main.command()
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
    from eventkit import runtime
    from eventkit.events.events import load_event
    from eventkit.model.invitees import read_invitees

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
    from eventkit import runtime
    from eventkit.invitations import invitations
    from flows.invitations import send_invitations

    state = send_invitations(slug, invitees_csv, return_state=True)
    report = invitations.delivery_report(runtime.get().store, slug)
    if state.is_failed() and not report.waiting:
        # not a delivery problem: show what went wrong without a traceback
        click.echo(_("The send-invitations run failed: %(detail)s", detail=state.message or ""), err=True)
        sys.exit(1)
    return {"sent": report.sent, "failed": report.failed, "waiting": report.waiting}


@main.command()
@click.argument("slug")
@user_errors
def lifecycle(slug: str) -> None:
    """Run the lifecycle of event SLUG: send the invitations, schedule reminders and the later phases."""
    from eventkit import runtime
    from eventkit.events.events import format_for, load_event
    from eventkit.model import lifecycle as phases

    settings = Settings.from_env()
    rt = runtime.configure(settings)
    with rt.store.session() as session:
        spec = load_event(session, slug)[1]
    if os.environ.get("PREFECT_API_URL"):
        from prefect.client.schemas.objects import FlowRun
        from prefect.deployments import run_deployment
        from prefect.utilities.urls import url_for

        run: FlowRun = run_deployment(  # type: ignore[assignment]
            "event-lifecycle/event-lifecycle", parameters={"slug": slug}, timeout=0, as_subflow=False
        )
        click.echo(_("Started the event-lifecycle run %(id)s on the Prefect server.", id=str(run.id)))
        url = url_for(run)
        if url:
            click.echo(url)
        click.echo(_("It will schedule these phases:"))
        timeline = phases.plan(spec, format_for(settings, spec.format))
    else:
        click.echo(_("No Prefect server configured (PREFECT_API_URL): running the lifecycle here."), err=True)
        from flows.lifecycle import event_lifecycle

        state = event_lifecycle(slug, return_state=True)
        if state.is_failed():
            click.echo(_("The event-lifecycle run failed: %(detail)s", detail=state.message or ""), err=True)
            sys.exit(1)
        timeline = [phases.Phase.from_dict(p) for p in state.result()]
    status_text = {
        phases.PLANNED: _("planned"),
        phases.SCHEDULED: _("scheduled"),
        phases.PAST: _("already past, skipped"),
        phases.UNAVAILABLE: _("not yet available"),
        phases.NOT_DEPLOYED: _("not scheduled: no such deployment on a Prefect server"),
    }
    for phase in timeline:
        when = phase.at.astimezone(spec.start.tzinfo).strftime("%Y-%m-%d %H:%M")
        click.echo(f"{when}  {phase.name:20} {status_text.get(phase.status, phase.status)}")


@main.command()
@click.argument("slug")
@click.option(
    "--input",
    "input_file",
    type=click.Path(path_type=Path),
    default=None,
    help="The recap file (YAML with Markdown texts, see examples/recaps/).",
)
@user_errors
def recap(slug: str, input_file: Path | None) -> None:
    """After the event: the recap PDF and the attendance list of event SLUG, and the thank-you emails."""
    from eventkit import runtime
    from eventkit.events.events import load_event
    from eventkit.recap import recap as recaps

    settings = Settings.from_env()
    rt = runtime.configure(settings)
    with rt.store.session() as session:
        load_event(session, slug)
    if input_file is not None:
        recaps.load_recap(input_file, recaps.event_format(rt, slug), slug=slug)  # every mistake before anything runs
    elif recaps.stored_recap(rt, slug) is None:
        click.echo(
            _(
                "There is no recap input for %(slug)s yet. Give one with --input FILE, or run the recap on a "
                "Prefect server and fill in the form on the run's page.",
                slug=slug,
            ),
            err=True,
        )
        sys.exit(2)
    from flows.recap import recap_flow

    state = recap_flow(slug, str(input_file.resolve()) if input_file else None, return_state=True)
    if state.is_failed():
        click.echo(_("The recap run failed: %(detail)s", detail=state.message or ""), err=True)
        sys.exit(1)
    result = state.result()
    click.echo(result["recap"])
    click.echo(result["attendance"])


@main.command()
@click.argument("slug")
@click.option("--blank", is_flag=True, help="To print before the event: everyone registered, nobody checked in.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write the PDF here.")
@user_errors
def attendance(slug: str, blank: bool, out: Path | None) -> None:
    """The attendance list (Teilnehmendenliste) of event SLUG as a PDF, one sheet per day."""
    from eventkit import runtime
    from eventkit.events.events import load_event
    from eventkit.recap.attendance import render_attendance

    settings = Settings.from_env()
    rt = runtime.configure(settings)
    with rt.store.session() as session:
        load_event(session, slug)
    made = render_attendance(rt, slug, blank=blank, out=out, language=_lang())
    click.echo(_("%(names)s names on %(pages)s pages.", names=made.names, pages=made.pages), err=True)
    click.echo(str(made.path))


@main.group()
def survey() -> None:
    """The follow-up survey: send it, remind, close and evaluate."""


def _survey_run(slug: str, run: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
    from eventkit import runtime
    from eventkit.events.events import load_event

    rt = runtime.configure(Settings.from_env())
    with rt.store.session() as session:
        load_event(session, slug)
    state = run(slug, return_state=True, **kwargs)
    if state.is_failed():
        click.echo(_("The run failed: %(detail)s", detail=state.message or ""), err=True)
        sys.exit(1)
    result: dict[str, Any] = state.result()
    return result


@survey.command("send")
@click.argument("slug")
@user_errors
def survey_send(slug: str) -> None:
    """Open the survey of event SLUG and send everyone who attended their personal link."""
    from flows.survey import send_survey

    result = _survey_run(slug, send_survey)
    if result.get("not_ended"):
        click.echo(_("The event %(slug)s has not ended yet: its survey opens after it.", slug=slug), err=True)
        sys.exit(2)
    if result.get("cancelled"):
        click.echo(_("The event %(slug)s is cancelled: there is no survey.", slug=slug), err=True)
        sys.exit(2)
    click.echo(
        _("Survey links: %(sent)s sent, %(failed)s failed.", sent=result.get("sent", 0), failed=result.get("failed", 0))
    )


@survey.command("remind")
@click.argument("slug")
@user_errors
def survey_remind(slug: str) -> None:
    """Remind those who have not answered the survey of event SLUG yet."""
    from flows.survey import send_survey_reminder

    result = _survey_run(slug, send_survey_reminder)
    click.echo(
        _(
            "Survey reminders: %(sent)s sent, %(failed)s failed.",
            sent=result.get("sent", 0),
            failed=result.get("failed", 0),
        )
    )


@survey.command("close")
@click.argument("slug")
@user_errors
def survey_close(slug: str) -> None:
    """Close the survey of event SLUG now (its links then say it is closed)."""
    from eventkit import runtime
    from eventkit.events.events import load_event
    from eventkit.survey import survey as surveys

    rt = runtime.configure(Settings.from_env())
    with rt.store.session() as session:
        load_event(session, slug)
    if surveys.close_survey(rt, slug):
        click.echo(_("The survey of %(slug)s is closed.", slug=slug))
    else:
        click.echo(_("The survey of %(slug)s was not open.", slug=slug))


@survey.command("evaluate")
@click.argument("slug")
@click.option("--keep-open", is_flag=True, help="An interim look: leave the survey open.")
@user_errors
def survey_evaluate(slug: str, keep_open: bool) -> None:
    """Evaluate the survey of event SLUG: survey-SLUG.csv and evaluation-SLUG.pdf (closes it unless --keep-open)."""
    from flows.survey import evaluate_survey

    result = _survey_run(slug, evaluate_survey, close=not keep_open)
    if result["csv"] is None:
        click.echo(_("No survey was sent for %(slug)s: there is nothing to evaluate.", slug=slug), err=True)
        sys.exit(2)
    click.echo(
        _("%(responses)s responses of %(invited)s invited.", responses=result["responses"], invited=result["invited"]),
        err=True,
    )
    click.echo(result["csv"])
    if result["pdf"]:
        click.echo(result["pdf"])


@main.command()
@click.argument("format_name", metavar="FORMAT")
@click.argument("email_name", metavar="EMAIL")
@click.option("--lang", "language", type=click.Choice(LANGUAGES), default="de", help="Language of the email.")
@click.option("--part", type=click.Choice(["text", "html", "both"]), default="both", help="What to print.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write subject, text and HTML files here.")
@user_errors
def preview(format_name: str, email_name: str, language: str, part: str, out: Path | None) -> None:
    """Render email EMAIL of format FORMAT with sample data."""
    from eventkit.core.render import Renderer
    from eventkit.devtools.samples import sample_context
    from eventkit.model.formats import discover

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


@main.command()
def formats() -> None:
    """List the meeting formats found under templates/formats and their emails."""
    from eventkit.core.render import Renderer
    from eventkit.model.formats import discover

    settings = Settings.from_env()
    renderer = Renderer(settings.template_dir)
    for name, fmt in discover(settings.template_dir).items():
        click.echo(f"{name:18} {fmt.title.get(_lang())}  [{', '.join(renderer.email_names(name))}]")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=1025, show_default=True, type=int)
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=Path("var/mailsink"), show_default=True)
def mailsink(host: str, port: int, directory: Path) -> None:
    """Run a local SMTP server that stores every message it receives as an .eml file."""
    import time

    from eventkit.devtools.mailsink import MailSink

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


@main.command()
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
    import uvicorn

    from eventkit import runtime
    from eventkit.web import create_app

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


@main.group()
def db() -> None:
    """The store's schema."""


@db.command("upgrade")
@user_errors
def db_upgrade() -> None:
    """Apply every pending migration (eventkit also does this on start)."""
    from eventkit.db.store import Store

    settings = Settings.from_env()
    Store(settings.database_url).dispose()
    click.echo(_("The database schema is up to date."))


@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("demo-output"), show_default=True)
@user_errors
def demo(out: Path) -> None:
    """Run the example events of examples/ with embedded defaults and leave what they produced in OUT."""
    from eventkit.devtools.demo import run_demo

    run_demo(out, echo=click.echo, translate=_)


if __name__ == "__main__":
    main()


# command groups of their own modules (they import this module's helpers, so they come last)
from eventkit.cli.privacy import person, purge  # noqa: E402
from eventkit.cli.series import minutes, series  # noqa: E402
from eventkit.cli.sessions import groups, sessions  # noqa: E402

main.add_command(person)
main.add_command(purge)
main.add_command(sessions)
main.add_command(groups)
main.add_command(series)
main.add_command(minutes)
