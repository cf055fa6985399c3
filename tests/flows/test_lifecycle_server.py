"""The lifecycle on a real Prefect server: phase runs scheduled once at their times, a reminder run that
executes and reaches a real SMTP server, a new time that moves the runs, a cancellation that cancels them,
and the operator's view of it all in the Prefect UI (a headless-Chromium screenshot).

As the operator runs it (README "Running on a Prefect server"): `prefect server start`, the work pool,
`prefect deploy`, a process worker, then `eventkit lifecycle SLUG` with PREFECT_API_URL set.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import icalendar
import pytest

from eventkit.core.settings import PROJECT_ROOT, Settings
from eventkit.devtools.mailsink import MailSink, free_port
from eventkit.events.events import save_event
from eventkit.model.spec import parse_spec
from eventkit.runtime import Runtime
from tests.conftest import TEMPLATES
from tests.flows.prefect_server import deploy_args
from tests.flows.test_delivery import parsed
from tests.flows.test_delivery_server import _healthy, _log_tail, _start, _stop, _worker_started, wait_for
from tests.test_changes import MOVED
from tests.test_reminders import invited
from tests.test_spec import GOOD

pytestmark = [pytest.mark.slow, pytest.mark.prefect]

# the screenshot of the UI's runs page is kept here for a person to look at (CI keeps the folder)
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


@dataclass
class Server:
    tmp: Path
    api: str
    env: dict[str, str]  # the CLI's and the worker's environment: Prefect server and eventkit store
    slug: str
    sink: MailSink
    rt: Runtime  # the same eventkit store as the CLI and the worker, for the test's own look at it
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def run(self, *args: str, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", *args], cwd=cwd, env=self.env, capture_output=True, text=True, timeout=120
        )

    def logs(self) -> str:
        return "\n".join(_log_tail(self.tmp, name) for name in self.procs)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = httpx.post(f"{self.api}{path}", json={**body, "limit": 200, "offset": 0}, timeout=10)
        response.raise_for_status()
        return response.json()

    def deployment_id(self, name: str) -> str:
        response = httpx.get(f"{self.api}/deployments/name/{name}", timeout=10)
        response.raise_for_status()
        return str(response.json()["id"])

    def event_runs(self, slug: str | None = None) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self.post(
            "/flow_runs/filter", {"flow_runs": {"tags": {"all_": [f"event:{slug or self.slug}"]}}}
        )
        return runs

    def received_by(self, address: str) -> list[Any]:
        return [parsed(r) for r in self.sink.received if address in r.rcpt_tos]

    def lifecycle_runs(self, state: str) -> list[dict[str, Any]]:
        criteria = {
            "deployment_id": {"any_": [self.deployment_id("event-lifecycle/event-lifecycle")]},
            "state": {"type": {"any_": [state]}},
        }
        runs: list[dict[str, Any]] = self.post("/flow_runs/filter", {"flow_runs": criteria})
        return runs


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("lifecycle-server")
    sink = MailSink().start()
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "EVENTKIT_"))}
    eventkit_env = {
        "EVENTKIT_DATABASE_URL": f"sqlite:///{tmp / 'eventkit.sqlite3'}",
        "EVENTKIT_VAR_DIR": str(tmp / "var"),
        "EVENTKIT_MAIL_DIR": str(tmp / "mail"),
        "EVENTKIT_SECRET_KEY": "test-secret-" + secrets.token_hex(8),
        "EVENTKIT_BASE_URL": "https://events.example.org",
        "EVENTKIT_MAIL_FROM": "noreply@events.example.org",
        "EVENTKIT_TEMPLATE_DIR": str(TEMPLATES),
        "EVENTKIT_SMTP_URL": sink.url,
    }
    env = {
        **base,
        **eventkit_env,
        "PREFECT_HOME": str(tmp / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp / 'prefect.sqlite3'}",
        "PREFECT_UI_ENABLED": "true",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "EVENTKIT_HOME": str(PROJECT_ROOT),
    }
    rt = Runtime.from_settings(Settings.from_env(eventkit_env))
    slug = save_event(rt.store, rt.settings, parse_spec(GOOD, TEMPLATES)).slug
    server = Server(tmp, api, env, slug, sink, rt)
    procs = server.procs
    try:
        args = ["-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
        procs["server"] = _start(tmp, "server", args, env)
        wait_for(lambda: _healthy(f"{api}/health", procs["server"], tmp, "server"), 120, "the Prefect server", 0.5)
        for args_ in (("work-pool", "create", "eventkit", "--type", "process"), deploy_args()):
            done = server.run("prefect", *args_)
            assert done.returncode == 0, f"prefect {' '.join(args_)}:\n{done.stdout}\n{done.stderr}"
        procs["worker"] = _start(tmp, "worker", ["-m", "prefect", "worker", "start", "--pool", "eventkit"], env)
        wait_for(lambda: _worker_started(tmp, procs["worker"]), 60, "the worker to start polling the work pool", 0.5)
        yield server
    except BaseException:
        print(server.logs())
        raise
    finally:
        for name in ("worker", "server"):
            if name in procs:
                _stop(procs[name])
        rt.store.dispose()
        sink.stop()


def _trigger(server: Server, completed_before: int) -> str:
    done = server.run("eventkit.cli", "--lang", "en", "lifecycle", server.slug)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert "Started the event-lifecycle run" in done.stdout
    wait_for(
        lambda: len(server.lifecycle_runs("COMPLETED")) > completed_before,
        90,
        "the event-lifecycle run to complete",
        0.5,
        lambda: f"{server.lifecycle_runs('FAILED')}\n{server.logs()}",
    )
    return done.stdout


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def test_the_lifecycle_schedules_each_phase_once_at_its_time(server: Server) -> None:
    output = _trigger(server, 0)
    assert "reminder-7d" in output and "evaluation" in output  # the printed timeline

    runs = [run for run in server.event_runs() if run["state_type"] == "SCHEDULED"]
    reminder = server.deployment_id("send-reminder/send-reminder")
    outbox = server.deployment_id("deliver-outbox/deliver-outbox")
    recap, survey = server.deployment_id("recap/recap"), server.deployment_id("send-survey/send-survey")
    survey_reminder = server.deployment_id("send-survey-reminder/send-survey-reminder")
    evaluation = server.deployment_id("evaluate-survey/evaluate-survey")
    purge = server.deployment_id("purge-personal-data/purge-personal-data")
    planned = sorted(
        (run["deployment_id"], _utc(run["next_scheduled_start_time"]), run["name"], tuple(sorted(run["parameters"])))
        for run in runs
    )
    # GOOD: 2027-11-20 12:00-17:00 Europe/Berlin (11:00-16:00 UTC), registration deadline 2027-11-16 23:59
    # (22:59 UTC); the format's defaults: recap and survey a day after the end, the survey's reminder a week
    # later, the evaluation two weeks after the end
    slug = server.slug
    assert planned == sorted(
        [
            (reminder, datetime(2027, 11, 13, 11, 0, tzinfo=UTC), f"reminder 7d · {slug}", ("reminder", "slug")),
            (outbox, datetime(2027, 11, 16, 22, 59, tzinfo=UTC), f"registration close · {slug}", ("slug",)),
            (reminder, datetime(2027, 11, 19, 11, 0, tzinfo=UTC), f"reminder 1d · {slug}", ("reminder", "slug")),
            (recap, datetime(2027, 11, 21, 16, 0, tzinfo=UTC), f"recap · {slug}", ("slug",)),
            (survey, datetime(2027, 11, 21, 16, 0, tzinfo=UTC), f"survey · {slug}", ("slug",)),
            (survey_reminder, datetime(2027, 11, 28, 16, 0, tzinfo=UTC), f"survey reminder · {slug}", ("slug",)),
            (evaluation, datetime(2027, 12, 4, 16, 0, tzinfo=UTC), f"evaluation · {slug}", ("slug",)),
            (purge, datetime(2028, 5, 21, 15, 0, tzinfo=UTC), f"purge · {slug}", ("slug",)),  # summer time: 17:00
        ]
    )
    by_name = {run["name"]: run for run in runs}
    assert by_name[f"reminder 7d · {server.slug}"]["parameters"] == {"slug": server.slug, "reminder": "7d"}
    assert set(by_name[f"reminder 1d · {server.slug}"]["tags"]) >= {f"event:{server.slug}", "format:fachvernetzung"}

    artifact = httpx.post(
        f"{server.api}/artifacts/latest/filter",
        json={"artifacts": {"key": {"any_": [f"lifecycle-{server.slug}"]}}, "limit": 1, "offset": 0},
        timeout=10,
    ).json()
    assert "| reminder-7d | 2027-11-13 12:00 | send-reminder/send-reminder | scheduled |" in artifact[0]["data"]
    assert "| purge |" in artifact[0]["data"]

    # a second trigger finds every run the first one made
    _trigger(server, 1)
    again = [run for run in server.event_runs() if run["state_type"] == "SCHEDULED"]
    assert sorted(run["id"] for run in again) == sorted(run["id"] for run in runs)


def _calendar(message: Any) -> tuple[str, int]:
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    cal = icalendar.Calendar.from_ical(part.get_payload(decode=True))
    return str(cal["METHOD"]), int(cal.walk("VEVENT")[0]["SEQUENCE"])


def _spec_soon(now: datetime) -> str:
    """An event whose 1-day reminder falls due in about a minute (its 7-day one has passed): time enough for
    the lifecycle run (a worker's flow-run process starts in 5-10 s) to schedule it before it is due."""
    berlin = ZoneInfo("Europe/Berlin")
    start = (now + timedelta(days=1, seconds=75)).astimezone(berlin).replace(microsecond=0)
    return f"""\
title: Netzwerktreffen bald
slug: netzwerktreffen-bald
format: netzwerktreffen
start: {start.strftime("%Y-%m-%dT%H:%M:%S")}
end: {(start + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M:%S")}
timezone: Europe/Berlin
language: de
venue: {{name: Haus der Vereine, address: "Markt 2, 07545 Gera", accessibility: stufenlos}}
organiser: {{name: Netzwerk Gera e.V., email: info@netzwerk-gera.example.org}}
capacity: 20
"""


def test_a_scheduled_reminder_runs_and_reaches_the_relay(server: Server) -> None:
    now = datetime.now(UTC)
    slug = save_event(server.rt.store, server.rt.settings, parse_spec(_spec_soon(now), TEMPLATES)).slug
    invited(server.rt, slug, "olena@example.org", "Олена Коваленко", "de", now=now)  # registered, with a place
    done = server.run("eventkit.cli", "--lang", "en", "lifecycle", slug)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    wait_for(
        lambda: [r for r in server.event_runs(slug) if r["name"] == f"reminder 1d · {slug}"],
        60,
        "the lifecycle run to schedule the 1-day reminder",
        0.5,
        server.logs,
    )

    def reminder_run() -> dict[str, Any] | None:
        runs = [r for r in server.event_runs(slug) if "phase:reminder-1d" in r["tags"]]
        return runs[0] if runs and runs[0]["state_type"] in ("COMPLETED", "FAILED", "CRASHED") else None

    run = wait_for(
        reminder_run,
        200,
        "the scheduled reminder run to finish",
        1.0,
        lambda: (
            f"{[(r['name'], r['state_name'], r['next_scheduled_start_time']) for r in server.event_runs(slug)]}"
            f" now {datetime.now(UTC).isoformat()}\n{server.logs()}"
        ),
    )
    assert run["state_type"] == "COMPLETED", server.logs()
    assert run["name"] == f"reminder 1d · {slug}"  # the name it was scheduled with, as the UI shows it
    # it waited for its time (a worker may start a run up to PREFECT_WORKER_PREFETCH_SECONDS early)
    assert _utc(run["start_time"]) >= _utc(run["expected_start_time"]) - timedelta(seconds=15)
    assert _utc(run["start_time"]) - _utc(run["created"]) >= timedelta(seconds=20)
    reminders = [m for m in server.received_by("olena@example.org") if m["Subject"].startswith("Erinnerung: ")]
    assert len(reminders) == 1
    assert _calendar(reminders[0]) == ("REQUEST", 0)
    assert "Олена Коваленко" in reminders[0].get_body(preferencelist=("plain",)).get_content()
    assert not [r for r in server.event_runs(slug) if r["name"] == f"reminder 7d · {slug}"]  # past: never made


def test_a_new_time_moves_the_runs_and_updates_every_calendar(server: Server) -> None:
    invited(server.rt, server.slug, "dmitri@example.org", "Дмитрий Иванов", "de")
    waiting = {r["id"]: r for r in server.event_runs() if r["state_type"] == "SCHEDULED"}
    assert len(waiting) == 8
    moved = server.tmp / "moved.yaml"
    moved.write_text(MOVED, encoding="utf-8")
    done = server.run("eventkit.cli", "--lang", "en", "event", "create", str(moved))
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert "changed: start, end" in done.stderr and "8 scheduled runs moved or cancelled" in done.stderr

    after = {r["id"]: r for r in server.event_runs() if r["state_type"] == "SCHEDULED"}
    assert set(after) == set(waiting)  # the same runs, moved: nothing new, nothing lost
    times = {r["name"]: _utc(r["next_scheduled_start_time"]) for r in after.values()}
    # MOVED: 27 November 2027 10:00-15:00 Berlin (09:00-14:00 UTC), deadline 23 November 23:59 (22:59 UTC)
    slug = server.slug
    assert times == {
        f"reminder 7d · {slug}": datetime(2027, 11, 20, 9, 0, tzinfo=UTC),
        f"registration close · {slug}": datetime(2027, 11, 23, 22, 59, tzinfo=UTC),
        f"reminder 1d · {slug}": datetime(2027, 11, 26, 9, 0, tzinfo=UTC),
        f"recap · {slug}": datetime(2027, 11, 28, 14, 0, tzinfo=UTC),
        f"survey · {slug}": datetime(2027, 11, 28, 14, 0, tzinfo=UTC),
        f"survey reminder · {slug}": datetime(2027, 12, 5, 14, 0, tzinfo=UTC),
        f"evaluation · {slug}": datetime(2027, 12, 11, 14, 0, tzinfo=UTC),
        f"purge · {slug}": datetime(2028, 5, 28, 13, 0, tzinfo=UTC),  # 15:00 in summer time
    }
    (update,) = [m for m in server.received_by("dmitri@example.org") if m["Subject"].startswith("Geändert: ")]
    assert _calendar(update) == ("REQUEST", 1)


def test_a_cancellation_cancels_the_runs_and_sends_cancel(server: Server) -> None:
    done = server.run("eventkit.cli", "--lang", "en", "event", "cancel", server.slug, "--reason", "Sturmwarnung.")
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    states = sorted(r["state_type"] for r in server.event_runs() if " · " in r["name"] and "lifecycle" not in r["name"])
    assert "SCHEDULED" not in states and states.count("CANCELLED") == 8
    (cancel,) = [m for m in server.received_by("dmitri@example.org") if m["Subject"].startswith("Abgesagt: ")]
    assert _calendar(cancel) == ("CANCEL", 2)


def test_the_operator_sees_the_event_runs_in_the_prefect_ui(server: Server) -> None:
    from playwright.sync_api import sync_playwright

    from tests.web.browser import CHROMIUM

    slug = "netzwerktreffen-bald"
    expected = {r["name"] for r in server.event_runs(slug)}
    assert f"reminder 1d · {slug}" in expected
    ui = server.api.removesuffix("/api")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"prefect-ui-runs-{slug}.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{ui}/runs", wait_until="networkidle")
        # as an operator would: the event's slug into the search by run name
        page.get_by_role("searchbox", name="Search by flow run name").fill(slug)
        page.get_by_text(f"reminder 1d · {slug}").first.wait_for(timeout=30_000)
        # the list follows the search after a moment: until then the other event's runs are still there
        page.wait_for_function("(other) => !document.body.innerText.includes(other)", arg=server.slug, timeout=30_000)
        page.screenshot(path=str(shot), full_page=True)
        text = page.inner_text("body")
        browser.close()
    # the runs of the past week (the default range): the lifecycle, its invitations and the reminder that ran
    for name in (f"lifecycle · {slug}", f"invitations · {slug}", f"reminder 1d · {slug}"):
        assert name in text, f"{name} not on the runs page; see {shot}"
    assert "Completed" in text
    assert server.slug not in text  # the search shows this event's runs only
    assert shot.stat().st_size > 10_000
