"""recap: the organiser's outcomes (a file, or a form in the Prefect UI), the recap and attendance PDFs, the thanks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.flow_runs import suspend_flow_run
from pydantic import ValidationError

from eventkit import runtime
from eventkit.model.base import failure
from eventkit.model.formats import Format
from eventkit.model.recap import Recap, grid_section, recap_model
from eventkit.recap import attendance, document, intake
from eventkit.recap import thanks as recap_thanks
from eventkit.sessions.notes import recap_sessions
from flows.relay import deliver_kinds, retry_on_deferral

# how long a recap run waits for the organiser's form before it gives up (it can be run again)
INPUT_TIMEOUT_S = 30 * 24 * 3600


def input_model(fmt: Format) -> type[Recap]:
    """The form the Prefect UI shows for the recap of an event of `fmt`: the recap input's own model."""
    return recap_model(fmt)


@task(name="take-recap-file", cache_policy=NO_CACHE)
def take_file(slug: str, path: str) -> Recap:
    return intake.take_input(runtime.get(), slug, Path(path))


@task(name="take-recap-form", cache_policy=NO_CACHE)
def take_form(slug: str, data: dict[str, Any]) -> Recap:
    return intake.take_data(runtime.get(), slug, data, source="Prefect UI")


@task(name="render-recap", cache_policy=NO_CACHE)
def render_recap(slug: str, given: Recap) -> document.RecapResult:
    return document.render_recap(runtime.get(), slug, given)


@task(name="render-attendance", cache_policy=NO_CACHE)
def render_attendance(slug: str, blank: bool = False) -> attendance.AttendanceResult:
    return attendance.render_attendance(runtime.get(), slug, blank=blank)


@task(name="enqueue-thanks", cache_policy=NO_CACHE)
def enqueue_thanks(slug: str) -> dict[str, int]:
    return recap_thanks.enqueue_thanks(runtime.get(), slug)


@task(
    name="deliver-thanks",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[30, 120, 600],
    retry_condition_fn=retry_on_deferral,
)
def deliver_thanks(slug: str) -> dict[str, int]:
    return deliver_kinds(slug, [recap_thanks.THANKS_KIND], "thank-you emails")


def _summary(
    slug: str,
    made: document.RecapResult,
    listed: attendance.AttendanceResult,
    thanks: dict[str, int],
    delivered: dict[str, int],
) -> str:
    f = made.figures
    lines = [
        f"# Recap · {slug}",
        "",
        f"- recap: `{made.path}` ({made.pages} pages, {made.size // 1024} KB{', with contents' if made.toc else ''})",
        f"- attendance list: `{listed.path}` ({listed.names} names, {listed.sheets} sheet(s) a day)",
        "",
        "| registered | attended | organisations | named (consent) | photos used | photos left out |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {f.registered} | {f.attended} | {f.organisations} | {len(f.listed)} | {made.photos_used}"
        f" | {len(made.photos_left_out)} |",
        "",
        "| thank-you emails | written earlier | recap attached | sent | deferred | failed |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {thanks['thanks']} | {thanks['already']} | {'yes' if thanks['attached'] else 'no, linked'}"
        f" | {delivered['sent']} | {delivered['retry']} | {delivered['failed']} |",
    ]
    for file, reason in made.photos_left_out:
        lines.append(f"\n- left out `{file}`: {reason}")
    if not f.checked_in:
        lines.append("\nNobody was checked in: the figures count registrations only, and no thanks went out.")
    return "\n".join(lines) + "\n"


@flow(name="recap", flow_run_name="recap · {slug}", log_prints=False)
def recap_flow(slug: str, recap_file: str | None = None, retry_delays: list[float] | None = None) -> dict[str, Any]:
    """Render the attendance list from the check-ins, take the organiser's outcomes (a recap file; else the
    stored input; else a form in the UI, for which the run suspends), render the recap into the event's
    folder, thank the attendees.

    A second run renders the PDFs again from the stored input and sends nobody a second thank-you email.
    """
    logger = get_run_logger()
    rt = runtime.get()
    # the attendance list comes from the check-ins alone: it is there before the run waits for the outcomes
    listed = render_attendance(slug)
    create_link_artifact(
        key=f"attendance-{slug}",
        link=listed.path.as_uri(),
        link_text=f"attendance-{slug}.pdf ({listed.names} names)",
        description=f"Attendance list of {slug}",
    )
    if recap_file:
        given = take_file(slug, recap_file)
    else:
        stored = intake.stored_recap(rt, slug)
        if stored is None:
            model = input_model(intake.event_format(rt, slug))
            logger.info("no recap input for %s yet: waiting for the organiser's form in the Prefect UI", slug)
            try:
                form = suspend_flow_run(wait_for_input=model, timeout=INPUT_TIMEOUT_S, key="recap-input")
            except ValidationError as exc:
                raise failure(exc, "Prefect UI") from None
            given = take_form(slug, form.to_data())
        else:
            given = stored
    grid = grid_section(intake.event_format(rt, slug))
    if grid is not None and given.section(grid) and recap_sessions(rt, slug):
        logger.warning(
            "the %s sessions of the recap input for %s are not used: the recap shows the plan published on the "
            "session board, with the hosts' notes",
            len(given.section(grid)),
            slug,
        )
    made = render_recap(slug, given)
    thanks = enqueue_thanks(slug)
    deliver = deliver_thanks if retry_delays is None else deliver_thanks.with_options(retry_delay_seconds=retry_delays)
    delivered = deliver(slug)
    create_markdown_artifact(
        key=f"recap-{slug}",
        markdown=_summary(slug, made, listed, thanks, delivered),
        description=f"Recap of {slug}: {made.pages} pages, {made.figures.attended} attended",
    )
    return {
        "recap": str(made.path),
        "attendance": str(listed.path),
        "pages": made.pages,
        "attended": made.figures.attended,
        **{f"thanks_{k}": v for k, v in thanks.items()},
        **delivered,
    }


@flow(name="attendance-list", flow_run_name="attendance list · {slug}", log_prints=False)
def attendance_list(slug: str, blank: bool = True) -> str:
    """The attendance list to print before the event (blank=True: everyone registered) or after it."""
    listed = render_attendance(slug, blank)
    create_link_artifact(
        key=f"attendance-{slug}",
        link=listed.path.as_uri(),
        link_text=f"{listed.path.name} ({listed.names} names)",
        description=f"Attendance list of {slug} ({'blank' if blank else 'from the check-ins'})",
    )
    return str(listed.path)
