"""The send-reminder flow under Prefect: reminders to a real SMTP server, once each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eventkit import runtime
from eventkit.devtools.mailsink import MailSink
from eventkit.events.events import save_event
from eventkit.model.spec import parse_spec
from flows.reminders import send_reminder
from tests.conftest import TEMPLATES, make_settings
from tests.flows.test_delivery import calendar_method, flow_run_name, invite, parsed, register
from tests.test_spec import GOOD

pytestmark = pytest.mark.prefect


@pytest.fixture
def rt(prefect_harness: None, tmp_path: Path, database_url: str, sink: MailSink) -> Iterator[runtime.Runtime]:
    configured = runtime.configure(make_settings(tmp_path, database_url, sink.url))
    yield configured
    configured.store.dispose()


def test_reminders_reach_the_relay_once(rt: runtime.Runtime, sink: MailSink) -> None:
    slug = save_event(rt.store, rt.settings, parse_spec(GOOD.replace("capacity: 40", "capacity: 1"), TEMPLATES)).slug
    invite(rt, slug, "ayse@example.org", "Ayşe Yılmaz", "token-ayse")
    invite(rt, slug, "dmitri@example.org", "Дмитрий Иванов", "token-dmitri")
    assert register(rt, slug, "ayse@example.org", "Ayşe Yılmaz", token="token-ayse") == "registered"
    assert register(rt, slug, "dmitri@example.org", "Дмитрий Иванов", token="token-dmitri") == "waitlisted"
    register(rt, slug, "olena@example.org", "Olena Kovalenko")  # an unconfirmed request: no reminder

    state = send_reminder(slug, "1d", return_state=True)
    result = state.result()
    assert flow_run_name(state) == f"reminder 1d · {slug}"  # the name the lifecycle gives the scheduled run
    assert result["reminder"] == 1 and result["reminder-waitlisted"] == 1
    assert (result["sent"], result["retry"], result["failed"]) == (2, 0, 0)
    # only the reminders: the registration emails waiting in the outbox are the delivery flow's
    messages = {r.rcpt_tos[0]: parsed(r) for r in sink.received}
    assert set(messages) == {"ayse@example.org", "dmitri@example.org"}
    assert messages["ayse@example.org"]["Subject"].startswith("Erinnerung: Fachvernetzung 2027 am ")
    assert calendar_method(messages["ayse@example.org"]) == "REQUEST"
    assert messages["dmitri@example.org"]["Subject"].startswith("Weiterhin auf der Warteliste")
    assert calendar_method(messages["dmitri@example.org"]) is None

    again = send_reminder(slug, "1d")
    assert (again["reminder"], again["reminder-waitlisted"], again["already"], again["sent"]) == (0, 0, 2, 0)
    assert len(sink.received) == 2

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        artifact = client.read_latest_artifacts()  # type: ignore[call-arg]
    reports = [a for a in artifact if a.key == f"reminder-report-{slug}"]
    assert reports and "ayse" not in str(reports[0].data)


def test_each_reminder_run_leaves_the_registration_table(rt: runtime.Runtime, sink: MailSink) -> None:
    import json

    import httpx
    from prefect.settings import PREFECT_API_URL

    from eventkit.model.registration_form import RegistrationInput
    from eventkit.registration import desk

    slug = save_event(rt.store, rt.settings, parse_spec(GOOD.replace("capacity: 40", "capacity: 1"), TEMPLATES)).slug
    invite(rt, slug, "ayse@example.org", "Ayşe Yılmaz", "token-ayse")
    invite(rt, slug, "dmitri@example.org", "Дмитрий Иванов", "token-dmitri")
    vegan = RegistrationInput("Ayşe Yılmaz", "ayse@example.org", None, None, {"dietary": ["vegan"]})
    assert desk.submit(rt, slug, vegan, invitation_token="token-ayse").status == "registered"
    register(rt, slug, "dmitri@example.org", "Дмитрий Иванов", token="token-dmitri")
    send_reminder(slug, "7d")

    response = httpx.post(
        f"{PREFECT_API_URL.value()}/artifacts/latest/filter",
        json={"artifacts": {"key": {"any_": [f"registrations-{slug}"]}}, "limit": 1, "offset": 0},
    )
    (artifact,) = response.json()
    assert artifact["type"] == "table"
    table = {row["what"]: row["count"] for row in json.loads(artifact["data"])}
    assert table["status: registered"] == 1 and table["status: waitlisted"] == 1 and table["places"] == 1
    assert table["Essen und Trinken: vegan"] == 1 and table["Essen und Trinken: halal"] == 0
    assert "ayse" not in artifact["data"] and "Ayşe" not in artifact["data"]  # figures, never a person
