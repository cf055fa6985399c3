"""deliver-outbox on a real Prefect server: prefect.yaml deployed, a process worker, the web app emitting events.

Everything runs as the operator runs it (README "Running on a Prefect server"): `prefect server start`,
`prefect work-pool create`, `prefect deploy --all`, `prefect worker start`, `eventkit serve` with
EVENTKIT_DELIVERY=prefect, and a real SMTP server (aiosmtpd) as the relay.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from eventkit import runtime
from eventkit.core.settings import PROJECT_ROOT, Settings
from eventkit.devtools.mailsink import MailSink, Received, free_port
from eventkit.events.events import save_event
from eventkit.model.spec import parse_spec
from tests.conftest import TEMPLATES
from tests.flows.prefect_server import deploy_args
from tests.flows.test_delivery import calendar_method, invite, parsed, register
from tests.test_spec import GOOD

pytestmark = [pytest.mark.slow, pytest.mark.prefect]

DEADLINE = 60.0  # the promise: a confirmation reaches the relay within a minute of registering
T = TypeVar("T")


@dataclass
class Stack:
    tmp: Path
    prefect_env: dict[str, str]
    api: str
    web: str
    sink: MailSink
    rt: runtime.Runtime
    slug: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def prefect(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """The prefect CLI against this server, from the project root (where prefect.yaml is)."""
        return subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "prefect", *args],
            cwd=PROJECT_ROOT,
            env=self.prefect_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def flow_runs(self, **criteria: Any) -> list[dict[str, Any]]:
        # limit and offset are sent: this server refuses the nulls that some of the client's helpers send
        body = {"flow_runs": criteria, "sort": "EXPECTED_START_TIME_DESC", "limit": 50, "offset": 0}
        response = httpx.post(f"{self.api}/flow_runs/filter", json=body, timeout=10)
        response.raise_for_status()
        runs: list[dict[str, Any]] = response.json()
        return runs

    def logs(self) -> str:
        return "\n".join(_log_tail(self.tmp, name) for name in self.procs)

    def deployment_id(self) -> str:
        response = httpx.get(f"{self.api}/deployments/name/deliver-outbox/deliver-outbox", timeout=10)
        response.raise_for_status()
        return str(response.json()["id"])


def _start(stack_tmp: Path, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # a session of its own, so that stopping it also stops what it started (uvicorn, flow-run processes)
    with (stack_tmp / f"{name}.log").open("wb") as log:
        command = [sys.executable, *args]
        return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGINT, 15), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _log_tail(stack_tmp: Path, name: str, lines: int = 40) -> str:
    path = stack_tmp / f"{name}.log"
    text = path.read_text(errors="replace") if path.exists() else ""
    return f"--- {name}.log ---\n" + "\n".join(text.splitlines()[-lines:])


def wait_for(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    interval: float = 0.1,
    details: Callable[[], str] | None = None,
) -> T:
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}\n{details() if details else ''}")
        time.sleep(interval)


def _healthy(url: str, proc: subprocess.Popen[bytes], stack_tmp: Path, name: str) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"{name} exited with {proc.returncode}\n{_log_tail(stack_tmp, name)}")
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("prefect-server")
    api_port, web_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "EVENTKIT_"))}
    prefect_env = {
        **base,
        "PREFECT_HOME": str(tmp / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp / 'prefect.sqlite3'}",
        "PREFECT_UI_ENABLED": "false",
        "EVENTKIT_HOME": str(PROJECT_ROOT),  # the pull step of prefect.yaml
    }
    with MailSink() as sink:
        eventkit_env = {
            "EVENTKIT_DATABASE_URL": f"sqlite:///{tmp / 'eventkit.sqlite3'}",
            "EVENTKIT_VAR_DIR": str(tmp / "var"),
            "EVENTKIT_MAIL_DIR": str(tmp / "mail"),
            "EVENTKIT_SECRET_KEY": "test-secret-" + secrets.token_hex(8),
            "EVENTKIT_BASE_URL": f"http://127.0.0.1:{web_port}",
            "EVENTKIT_MAIL_FROM": "noreply@events.example.org",
            "EVENTKIT_TEMPLATE_DIR": str(TEMPLATES),
            "EVENTKIT_SMTP_URL": sink.url,
            "EVENTKIT_RATE_LIMIT": "off",
        }
        # the schema is made here once, before three processes open the store
        rt = runtime.configure(Settings.from_env(eventkit_env))
        slug = save_event(rt.store, rt.settings, parse_spec(GOOD, TEMPLATES)).slug
        stack = Stack(tmp, prefect_env, api, f"http://127.0.0.1:{web_port}", sink, rt, slug)
        procs = stack.procs
        try:
            server_args = ["-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(api_port)]
            procs["server"] = _start(tmp, "server", server_args, prefect_env)
            wait_for(lambda: _healthy(f"{api}/health", procs["server"], tmp, "server"), 120, "the Prefect server", 0.5)

            for args in (("work-pool", "create", "eventkit", "--type", "process"), deploy_args()):
                done = stack.prefect(*args)
                assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"

            worker_env = {**prefect_env, **eventkit_env}
            procs["worker"] = _start(
                tmp, "worker", ["-m", "prefect", "worker", "start", "--pool", "eventkit"], worker_env
            )
            wait_for(
                lambda: _worker_started(tmp, procs["worker"]), 60, "the worker to start polling the work pool", 0.5
            )

            web_env = {**prefect_env, **eventkit_env, "EVENTKIT_DELIVERY": "prefect"}
            web_args = ["-m", "eventkit.cli", "serve", "--host", "127.0.0.1", "--port", str(web_port)]
            procs["web"] = _start(tmp, "web", web_args, web_env)
            wait_for(lambda: _healthy(f"{stack.web}/healthz", procs["web"], tmp, "web"), 60, "the web app", 0.5)
            assert httpx.get(f"{stack.web}/healthz").json()["delivery"] == "prefect"
            yield stack
        except BaseException:
            print(stack.logs())  # shown with the failure
            raise
        finally:
            for name in ("web", "worker", "server"):
                if name in procs:
                    _stop(procs[name])
            rt.store.dispose()


def _worker_started(tmp: Path, proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"the worker exited with {proc.returncode}\n{_log_tail(tmp, 'worker')}")
    return "started!" in (tmp / "worker.log").read_text(errors="replace")


def _to(sink: MailSink, address: str) -> list[Received]:
    return [r for r in sink.received if address in r.rcpt_tos]


def test_a_confirmation_reaches_the_relay_within_a_minute(stack: Stack) -> None:
    invite(stack.rt, stack.slug, "ayse@example.org", "Ayşe Yılmaz", "token-ayse")
    registration = {
        "name": "Ayşe Yılmaz",
        "email": "ayse@example.org",
        "privacy_consent": True,
        "invitation_token": "token-ayse",
        "represented": "Interkultureller Verein Gera e.V.",
    }
    started = time.monotonic()
    response = httpx.post(f"{stack.web}/api/events/{stack.slug}/registrations", json=registration, timeout=30)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "registered"
    received = wait_for(
        lambda: _to(stack.sink, "ayse@example.org"), DEADLINE, "the confirmation at the relay", details=stack.logs
    )
    latency = time.monotonic() - started
    print(f"\nregistration -> SMTP relay: {latency:.1f} s (server, process worker, event trigger)")
    assert latency < DEADLINE

    assert len(received) == 1
    message = parsed(received[0])
    assert message["Subject"].startswith("Anmeldung bestätigt: Fachvernetzung 2027")
    assert message["To"].addresses[0].addr_spec == "ayse@example.org"
    assert calendar_method(message) == "REQUEST"
    # delivered by the run that the web app's event started, not by a sweep
    runs = wait_for(
        lambda: stack.flow_runs(name={"any_": [f"deliver · {stack.slug}"]}, state={"type": {"any_": ["COMPLETED"]}}),
        30,
        "the triggered deliver-outbox run to complete",
        0.5,
        stack.logs,
    )
    assert runs[0]["parameters"] == {"slug": stack.slug}


def test_the_sweep_is_scheduled_every_five_minutes(stack: Stack) -> None:
    deployment = stack.deployment_id()
    scheduled = wait_for(
        lambda: [
            run
            for run in stack.flow_runs(deployment_id={"any_": [deployment]}, state={"type": {"any_": ["SCHEDULED"]}})
            if run["auto_scheduled"]
        ],
        30,
        "the server's scheduler to plan sweep runs of deliver-outbox",
        1.0,
        stack.logs,
    )
    assert all(run["parameters"] == {} for run in scheduled)  # slug None: a sweep
    assert len(scheduled) >= 2


def test_the_sweep_delivers_what_no_event_announced(stack: Stack) -> None:
    # put into the outbox by another process than the web app: no Prefect event tells anyone
    assert register(stack.rt, stack.slug, "olena@example.org", "Olena Kovalenko") == "pending"
    time.sleep(3)
    assert not _to(stack.sink, "olena@example.org")
    done = stack.prefect("deployment", "run", "deliver-outbox/deliver-outbox", "--watch", "--watch-timeout", "120")
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert "Completed" in done.stdout
    received = wait_for(
        lambda: _to(stack.sink, "olena@example.org"), 10, "the opt-in email at the relay", 0.1, stack.logs
    )
    assert parsed(received[0])["Subject"].startswith("Bitte bestätigen Sie Ihre Anmeldung")
    assert stack.flow_runs(name={"any_": ["deliver · sweep"]}, state={"type": {"any_": ["COMPLETED"]}})
