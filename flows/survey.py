"""send-survey, send-survey-reminder, evaluate-survey: the follow-up survey after an event, and its evaluation."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from eventkit import runtime
from eventkit.survey import emails, evaluation, responses
from flows.relay import deliver_kinds, retry_on_deferral


@task(name="open-survey", cache_policy=NO_CACHE)
def open_survey(slug: str) -> dict[str, int]:
    return emails.open_survey(runtime.get(), slug)


@task(name="enqueue-survey-reminders", cache_policy=NO_CACHE)
def enqueue_survey_reminders(slug: str) -> dict[str, int]:
    return emails.enqueue_reminders(runtime.get(), slug)


@task(
    name="deliver-survey-emails",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[30, 120, 600],
    retry_condition_fn=retry_on_deferral,
)
def deliver_survey_emails(slug: str, kind: str) -> dict[str, int]:
    return deliver_kinds(slug, [kind], "survey emails")


def _why_not(counts: dict[str, int]) -> str | None:
    reasons = {
        "cancelled": "The event is cancelled: no survey.",
        "not_ended": "The event has not ended yet: no survey.",
        "closed": "The survey is closed: nothing sent.",
    }
    return next((text for key, text in reasons.items() if counts.get(key)), None)


def _report(title: str, counts: dict[str, int], delivered: dict[str, int], written: str) -> str:
    lines = [f"# {title}", ""]
    reason = _why_not(counts)
    if reason:
        lines += [reason, ""]
    lines += [
        f"| {written} | written earlier | sent | deferred | failed |",
        "|---:|---:|---:|---:|---:|",
        f"| {counts.get('invited', counts.get('reminded', 0))} | {counts['already']}"
        f" | {delivered['sent']} | {delivered['retry']} | {delivered['failed']} |",
    ]
    return "\n".join(lines) + "\n"


def _deliver(slug: str, kind: str, retry_delays: list[float] | None) -> dict[str, int]:
    deliver = deliver_survey_emails
    if retry_delays is not None:
        deliver = deliver_survey_emails.with_options(retry_delay_seconds=retry_delays)
    return deliver(slug, kind)


@flow(name="send-survey", flow_run_name="survey · {slug}", log_prints=False)
def send_survey(slug: str, retry_delays: list[float] | None = None) -> dict[str, int]:
    """Open the survey after the event and send everyone who attended (or, by the spec, everyone registered)
    a personal survey link. A second run invites only people not invited before."""
    counts = open_survey(slug)
    get_run_logger().info(
        "survey: %d invitations written, %d earlier, audience %d",
        counts["invited"],
        counts["already"],
        counts["audience"],
    )
    delivered = _deliver(slug, "survey-invitation", retry_delays)
    create_markdown_artifact(
        key=f"survey-report-{slug}",
        markdown=_report(f"Survey · {slug}", counts, delivered, "invitations"),
        description=f"Survey for {slug}: {delivered['sent']} sent, {delivered['failed']} failed",
    )
    return {**counts, **delivered}


@flow(name="send-survey-reminder", flow_run_name="survey reminder · {slug}", log_prints=False)
def send_survey_reminder(slug: str, retry_delays: list[float] | None = None) -> dict[str, int]:
    """Remind the people who have not answered the survey yet (once each); nobody who answered hears again."""
    counts = enqueue_survey_reminders(slug)
    get_run_logger().info(
        "survey reminder: %d written, %d earlier, %d answered already",
        counts["reminded"],
        counts["already"],
        counts["answered"],
    )
    delivered = _deliver(slug, "survey-reminder", retry_delays)
    create_markdown_artifact(
        key=f"survey-reminder-report-{slug}",
        markdown=_report(f"Survey reminder · {slug}", counts, delivered, "reminders"),
        description=f"Survey reminder for {slug}: {delivered['sent']} sent, {delivered['failed']} failed",
    )
    return {**counts, **delivered}


@task(name="close-survey", cache_policy=NO_CACHE)
def close_survey(slug: str) -> bool:
    return responses.close_survey(runtime.get(), slug)


@task(name="write-evaluation", cache_policy=NO_CACHE)
def write_evaluation(slug: str) -> evaluation.Outputs | None:
    return evaluation.write_outputs(runtime.get(), slug)


@flow(name="evaluate-survey", flow_run_name="evaluation · {slug}", log_prints=False)
def evaluate_survey(slug: str, close: bool = True) -> dict[str, object]:
    """Close the survey (unless close=False, for an interim look) and write survey-<slug>.csv and
    evaluation-<slug>.pdf into the event's folder; the summary becomes the evaluation-<slug> artifact."""
    logger = get_run_logger()
    if close and close_survey(slug):
        logger.info("survey closed")
    outputs = write_evaluation(slug)
    if outputs is None:
        logger.info("no survey was sent for %s: nothing to evaluate", slug)
        return {"responses": 0, "invited": 0, "csv": None, "pdf": None}
    result = outputs.evaluation
    create_table_artifact(
        key=f"evaluation-{slug}",
        table=evaluation.summary_rows(result),
        description=f"Survey evaluation for {slug}: {result.responses} responses of {result.invited} invited",
    )
    logger.info(
        "%d responses of %d invited; wrote %s and %s", result.responses, result.invited, outputs.csv, outputs.pdf
    )
    return {
        "responses": result.responses,
        "invited": result.invited,
        "csv": str(outputs.csv),
        "pdf": str(outputs.pdf) if outputs.pdf else None,
    }
