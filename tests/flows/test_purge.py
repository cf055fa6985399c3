"""purge-personal-data under Prefect, and least data in logs and artifacts: the Prefect logs and artifacts of
a representative run of the lifecycle's flows (invitations, registration emails, a reminder, a change, the
survey, the purge) searched for every attendee's address and support answer; none may be found."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from eventkit import runtime
from eventkit.devtools.mailsink import MailSink
from eventkit.events.changes import previous_of
from eventkit.mail.outbox import DeliveryReport
from eventkit.mail.reports import delivery_markdown
from flows.changes import event_changed
from flows.delivery import deliver_outbox
from flows.invitations import send_invitations
from flows.purge import purge_personal_data
from flows.reminders import send_reminder
from flows.survey import evaluate_survey, send_survey
from tests.conftest import make_settings
from tests.flows.test_delivery import flow_run_name
from tests.smtp_servers import RefuseHandler
from tests.test_retention import SUPPORT, attend, make_event

pytestmark = pytest.mark.prefect

PEOPLE = [
    ("ayse.yilmaz@example.org", "Ayşe Yılmaz"),
    ("m.alahmad@example.org", "محمد الأحمد"),
    ("dmitri.ivanov@example.org", "Дмитрий Иванов"),
    ("olena.k@example.org", "Olena Kovalenko"),  # refused by the relay
]


def api(path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The Prefect API of the session's harness (the client's helpers send nulls this server refuses)."""
    from prefect.settings import PREFECT_API_URL

    response = httpx.post(f"{PREFECT_API_URL.value()}{path}", json=body, timeout=30)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()
    return result


def logs_and_artifacts(run_ids: list[str]) -> str:
    logs = api("/logs/filter", {"logs": {"flow_run_id": {"any_": run_ids}}, "limit": 200})
    offset = 200
    while len(logs) == offset:
        more = api("/logs/filter", {"logs": {"flow_run_id": {"any_": run_ids}}, "limit": 200, "offset": offset})
        logs += more
        offset += 200
    artifacts = api("/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": run_ids}}, "limit": 200})
    assert logs and artifacts
    return "\n".join(
        [str(entry["message"]) for entry in logs] + [str(a.get("data")) + str(a.get("description")) for a in artifacts]
    )


def run_id(state: Any) -> str:
    return str(state.state_details.flow_run_id)


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink(RefuseHandler(refused={"olena.k@example.org"})) as s:
        yield s


@pytest.fixture
def rt(prefect_harness: None, tmp_path: Path, database_url: str, sink: MailSink) -> Iterator[runtime.Runtime]:
    configured = runtime.configure(make_settings(tmp_path, database_url, sink.url))
    yield configured
    configured.store.dispose()


def test_logs_and_artifacts_name_nobody(rt: runtime.Runtime, tmp_path: Path) -> None:
    tag = secrets.token_hex(3)
    upcoming = make_event(rt, f"leak-{tag}", -30)
    csv = tmp_path / "invitees.csv"
    csv.write_text("email,name\n" + "".join(f"{e},{n}\n" for e, n in PEOPLE), encoding="utf-8")
    states = [send_invitations(upcoming.slug, str(csv), return_state=True)]
    for address, name in PEOPLE:
        attend(rt, upcoming, address, name, present=False)
    states.append(deliver_outbox(upcoming.slug, retry_delays=[0, 0], return_state=True))
    states.append(send_reminder(upcoming.slug, "7d", retry_delays=[0, 0, 0], return_state=True))
    previous = previous_of({**upcoming.to_data(), "start": (upcoming.start - timedelta(days=1)).isoformat()})
    states.append(event_changed(upcoming.slug, previous, return_state=True))

    ended = make_event(rt, f"leak-ended-{tag}", 3)
    for address, name in PEOPLE[:3]:
        attend(rt, ended, address, name, present=True)
    states.append(send_survey(ended.slug, retry_delays=[0, 0, 0], return_state=True))
    states.append(evaluate_survey(ended.slug, return_state=True))
    states.append(purge_personal_data(ended.slug, return_state=True))

    text = logs_and_artifacts([run_id(s) for s in states])
    assert "sent" in text  # the search looks at real logs
    assert "550" in text  # the refusal is reported, without the address the server quoted
    for address, name in PEOPLE:
        assert address not in text, address
        assert address.split("@")[0] not in text, address
        assert name not in text, name
    assert SUPPORT["support_other"] not in text


def test_the_debug_setting_names_recipients_in_the_report() -> None:
    report = DeliveryReport(
        total=1, failed=1, failures=[(7, "olena.k@example.org", "550 <olena.k@example.org> unknown")]
    )
    assert "olena" not in delivery_markdown("s", "invitation", report)
    assert "| 7 | 550 <[address]> unknown |" in delivery_markdown("s", "invitation", report)
    assert "| 7 | olena.k@example.org |" in delivery_markdown("s", "invitation", report, personal=True)


def test_purge_flow_reports_counts_as_an_artifact(rt: runtime.Runtime) -> None:
    tag = secrets.token_hex(3)
    old = make_event(rt, f"purge-old-{tag}", 200, funded=False)
    recent = make_event(rt, f"purge-recent-{tag}", 10)
    attend(rt, old, "ayse.yilmaz@example.org", "Ayşe Yılmaz", present=True)
    attend(rt, recent, "jonas@example.org", "Jonas Weber", present=False)

    state = purge_personal_data(old.slug, return_state=True)
    result = state.result()
    assert flow_run_name(state) == f"purge · {old.slug}"
    [entry] = result["events"]
    assert entry["stage"] == "personal data" and entry["counts"]["registrations_deleted"] == 1
    [artifact] = api(
        "/artifacts/filter",
        {"artifacts": {"key": {"any_": [f"purge-report-{old.slug}"]}}, "sort": "CREATED_DESC", "limit": 1},
    )
    assert old.slug in artifact["data"] and "ayse" not in artifact["data"] and "Ayşe" not in artifact["data"]

    again = purge_personal_data(old.slug, return_state=True)
    assert again.result()["events"][0]["stage"] == "nothing left"

    everything = purge_personal_data(return_state=True)
    assert flow_run_name(everything) == "purge · all due events"
    assert recent.slug not in [e["slug"] for e in everything.result()["events"]]
