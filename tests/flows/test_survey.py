"""The survey flows under Prefect: invitations and a reminder that reaches only those who have not answered,
at a real SMTP server; the evaluation writes its CSV and PDF and leaves a table artifact."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from eventkit import runtime
from eventkit.db.store import OutboxMessage
from eventkit.devtools.mailsink import MailSink
from eventkit.survey import emails, responses
from flows.survey import evaluate_survey, send_survey, send_survey_reminder
from tests.conftest import make_settings
from tests.flows.test_delivery import flow_run_name, parsed
from tests.test_survey import ANSWERS, PEOPLE, add_attendee, make_ended_event

pytestmark = pytest.mark.prefect

EXTRA_PERSON = ("leyla@example.org", "Leyla Demir", "de", True)


@pytest.fixture
def rt(prefect_harness: None, tmp_path: Path, database_url: str, sink: MailSink) -> Iterator[runtime.Runtime]:
    configured = runtime.configure(make_settings(tmp_path, database_url, sink.url))
    yield configured
    configured.store.dispose()


def links(sink: MailSink, slug: str) -> dict[str, str]:
    """The survey link token in each survey email the relay received, by recipient."""
    found = {}
    for received in sink.received:
        message = parsed(received)
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        match = re.search(rf"/e/{slug}/survey\?t=(\S+)", str(body.get_content()))
        if match:
            found[received.rcpt_tos[0]] = match.group(1)
    return found


def test_the_reminder_reaches_only_those_who_have_not_answered(rt: runtime.Runtime, sink: MailSink) -> None:
    spec = make_ended_event(rt)
    for address, name, language, present in [*PEOPLE, EXTRA_PERSON]:
        add_attendee(rt, spec, address, name, language, present=present)
    attended = sorted(a for a, _, _, present in [*PEOPLE, EXTRA_PERSON] if present)

    state = send_survey(spec.slug, return_state=True)
    result = state.result()
    assert flow_run_name(state) == f"survey · {spec.slug}"
    assert (result["invited"], result["sent"], result["failed"]) == (4, 4, 0)
    assert sorted(r.rcpt_tos[0] for r in sink.received) == attended  # not the one who stayed away
    subjects = {r.rcpt_tos[0]: parsed(r)["Subject"] for r in sink.received}
    assert subjects["ayse@example.org"] == "Ihre Meinung zu „Fachvernetzung 2027“"
    assert subjects["dmitri@example.org"] == "Your opinion on “Fachvernetzung 2027”"
    invitations = links(sink, spec.slug)
    assert send_survey(spec.slug)["sent"] == 0  # nothing twice

    # Ayşe answers before the reminder is due; Olena after it was put into the outbox, before it went out
    responses.submit(rt, spec.slug, invitations["ayse@example.org"], ANSWERS)
    assert emails.enqueue_reminders(rt, spec.slug)["reminded"] == 3
    responses.submit(rt, spec.slug, invitations["olena@example.org"], ANSWERS)

    before = len(sink.received)
    state = send_survey_reminder(spec.slug, return_state=True)
    reminded = state.result()
    assert flow_run_name(state) == f"survey reminder · {spec.slug}"
    reminders = [r for r in sink.received[before:]]
    assert sorted(r.rcpt_tos[0] for r in reminders) == ["dmitri@example.org", "leyla@example.org"]
    assert parsed(reminders[0])["Subject"].startswith(("Erinnerung: Ihre Meinung", "Reminder: your opinion"))
    assert (reminded["reminded"], reminded["already"], reminded["sent"]) == (0, 2, 2)  # written before the run
    with rt.store.session() as session:
        skipped = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "survey-reminder", OutboxMessage.status == "failed")
        ).one()
    assert skipped.recipient == "olena@example.org" and skipped.last_error == "not sent: the survey has been answered"
    # the reminder carries the same personal link as the invitation
    assert links(sink, spec.slug)["dmitri@example.org"] == invitations["dmitri@example.org"]
    assert send_survey_reminder(spec.slug)["sent"] == 0
    assert len(sink.received) == before + 2


def test_the_evaluation_writes_its_files_and_a_table_artifact(rt: runtime.Runtime, sink: MailSink) -> None:
    spec = make_ended_event(rt, "survey_audience: registered\n")
    for address, name, language, present in [*PEOPLE, EXTRA_PERSON]:
        add_attendee(rt, spec, address, name, language, present=present)
    send_survey(spec.slug)
    for token in list(links(sink, spec.slug).values())[:3]:
        responses.submit(rt, spec.slug, token, ANSWERS)

    state = evaluate_survey(spec.slug, return_state=True)
    result = state.result()
    assert flow_run_name(state) == f"evaluation · {spec.slug}"
    assert (result["responses"], result["invited"]) == (3, 5)
    folder = rt.settings.var_dir / "events" / spec.slug
    assert result["csv"] == str(folder / f"survey-{spec.slug}.csv")
    assert Path(str(result["pdf"])).read_bytes().startswith(b"%PDF")
    with pytest.raises(responses.SurveyClosed):  # the evaluation closes the survey
        responses.submit(rt, spec.slug, list(links(sink, spec.slug).values())[3], ANSWERS)

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        artifacts = client.read_latest_artifacts()  # type: ignore[call-arg]
    [table] = [a for a in artifacts if a.key == f"evaluation-{spec.slug}"]
    assert table.type == "table"
    text = str(table.data)
    assert "3 of 5 invited" in text and "Wie hat Ihnen die Veranstaltung insgesamt gefallen?" in text
    assert "ayse" not in text.lower()
