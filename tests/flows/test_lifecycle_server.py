"""event-lifecycle on a real Prefect server: `eventkit lifecycle` schedules the phase runs, once, at their times.

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from eventkit import runtime
from eventkit.events import save_event
from eventkit.mailsink import free_port
from eventkit.settings import PROJECT_ROOT, Settings
from eventkit.spec import parse_spec
from tests.conftest import TEMPLATES
from tests.flows.prefect_server import deploy_args
from tests.flows.test_delivery_server import _healthy, _log_tail, _start, _stop, _worker_started, wait_for
from tests.test_spec import GOOD

pytestmark = [pytest.mark.slow, pytest.mark.prefect]

# send-reminder is written in parallel with this test: until flows/reminders.py exists, a stand-in
# deployment of the same name (outside the checkout, never run: its runs lie in 2027) takes its place
STUB_FLOW = """from prefect import flow


@flow(name="send-reminder")
def send_reminder(slug: str, reminder: str) -> None:
    raise NotImplementedError
"""
STUB_YAML = """name: reminder-stand-in
prefect-version: 3.8.0
deployments:
  - name: send-reminder
    entrypoint: flows/reminders.py:send_reminder
    work_pool: {name: eventkit, work_queue_name: default}
"""


@dataclass
class Server:
    tmp: Path
    api: str
    env: dict[str, str]  # the CLI's and the worker's environment: Prefect server and eventkit store
    slug: str
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

    def event_runs(self) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self.post(
            "/flow_runs/filter", {"flow_runs": {"tags": {"all_": [f"event:{self.slug}"]}}}
        )
        return runs

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
    }
    env = {
        **base,
        **eventkit_env,
        "PREFECT_HOME": str(tmp / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp / 'prefect.sqlite3'}",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "EVENTKIT_HOME": str(PROJECT_ROOT),
    }
    rt = runtime.configure(Settings.from_env(eventkit_env))
    slug = save_event(rt.store, rt.settings, parse_spec(GOOD, TEMPLATES)).slug
    rt.store.dispose()
    server = Server(tmp, api, env, slug)
    procs = server.procs
    try:
        args = ["-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
        procs["server"] = _start(tmp, "server", args, env)
        wait_for(lambda: _healthy(f"{api}/health", procs["server"], tmp, "server"), 120, "the Prefect server", 0.5)
        for args_ in (("work-pool", "create", "eventkit", "--type", "process"), deploy_args()):
            done = server.run("prefect", *args_)
            assert done.returncode == 0, f"prefect {' '.join(args_)}:\n{done.stdout}\n{done.stderr}"
        if not (PROJECT_ROOT / "flows" / "reminders.py").is_file():
            stub = tmp / "reminder-stand-in"
            (stub / "flows").mkdir(parents=True)
            (stub / "flows" / "reminders.py").write_text(STUB_FLOW)
            (stub / "prefect.yaml").write_text(STUB_YAML)
            done = server.run("prefect", "--no-prompt", "deploy", "--all", cwd=stub)
            assert done.returncode == 0, f"stand-in send-reminder:\n{done.stdout}\n{done.stderr}"
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
    assert "reminder-7d" in output and "not yet available" in output  # the printed timeline

    runs = [run for run in server.event_runs() if run["state_type"] == "SCHEDULED"]
    reminder = server.deployment_id("send-reminder/send-reminder")
    outbox = server.deployment_id("deliver-outbox/deliver-outbox")
    planned = sorted(
        (run["deployment_id"], _utc(run["next_scheduled_start_time"]), run["name"], tuple(sorted(run["parameters"])))
        for run in runs
    )
    # GOOD: 2027-11-20 12:00 Europe/Berlin (11:00 UTC), registration deadline 2027-11-16 23:59 (22:59 UTC)
    assert planned == sorted(
        [
            (reminder, datetime(2027, 11, 13, 11, 0, tzinfo=UTC), f"reminder 7d · {server.slug}", ("reminder", "slug")),
            (outbox, datetime(2027, 11, 16, 22, 59, tzinfo=UTC), f"registration close · {server.slug}", ("slug",)),
            (reminder, datetime(2027, 11, 19, 11, 0, tzinfo=UTC), f"reminder 1d · {server.slug}", ("reminder", "slug")),
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
