"""The recap flow on a real Prefect server: with no recap input it suspends and waits for the organiser's form;
the form's answers, sent through the API as the UI sends them, let it continue to the PDFs.

As an operator runs it: `prefect server start`, the work pool, a deployment of flows/recap.py:recap_flow, a
process worker; the organiser starts the run and fills the form on the run's page (POST .../resume).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from eventkit import runtime
from eventkit.core.files import event_dir
from eventkit.core.settings import PROJECT_ROOT, Settings
from eventkit.devtools.mailsink import free_port
from tests.conftest import TEMPLATES
from tests.flows.test_delivery_server import _healthy, _log_tail, _start, _stop, _worker_started, wait_for
from tests.test_pdf import pdf_text
from tests.test_recap import add_event, add_people

pytestmark = [pytest.mark.slow, pytest.mark.prefect]

# the recap deployment as the lead's prefect.yaml declares it, in a file of this test's own
PREFECT_YAML = """name: eventkit-recap-test
prefect-version: 3.8.0
pull:
  - prefect.deployments.steps.set_working_directory:
      directory: "{root}"
deployments:
  - name: recap
    entrypoint: flows/recap.py:recap_flow
    parameters: {{}}
    work_pool: {{name: eventkit, work_queue_name: default}}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], Path, str]]:
    tmp = tmp_path_factory.mktemp("recap-server")
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
    }
    rt = runtime.configure(Settings.from_env(eventkit_env))
    slug = add_event(rt, "barcamp")
    add_people(rt, slug)
    rt.store.dispose()
    (tmp / "prefect.yaml").write_text(PREFECT_YAML.format(root=PROJECT_ROOT))
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "prefect", *args],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    try:
        procs["server"] = _start(
            tmp, "server", ["-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)], env
        )
        wait_for(lambda: _healthy(f"{api}/health", procs["server"], tmp, "server"), 120, "the Prefect server", 0.5)
        for args in (
            ("work-pool", "create", "eventkit", "--type", "process"),
            ("--no-prompt", "deploy", "--prefect-file", str(tmp / "prefect.yaml"), "--name", "recap"),
        ):
            done = run(*args)
            assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        procs["worker"] = _start(tmp, "worker", ["-m", "prefect", "worker", "start", "--pool", "eventkit"], env)
        wait_for(lambda: _worker_started(tmp, procs["worker"]), 60, "the worker to start polling the work pool", 0.5)
        yield api, eventkit_env, tmp, slug
    except BaseException:
        print("\n".join(_log_tail(tmp, name) for name in procs))
        raise
    finally:
        for name in ("worker", "server"):
            if name in procs:
                _stop(procs[name])


def _run(api: str, run_id: str) -> dict[str, Any]:
    response = httpx.get(f"{api}/flow_runs/{run_id}", timeout=10)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def test_the_recap_run_waits_for_the_form_and_continues_with_it(
    server: tuple[str, dict[str, str], Path, str],
) -> None:
    api, eventkit_env, tmp, slug = server
    logs = lambda: "\n".join(_log_tail(tmp, n) for n in ("worker", "server"))  # noqa: E731
    deployment = httpx.get(f"{api}/deployments/name/recap/recap", timeout=10).json()
    created = httpx.post(
        f"{api}/deployments/{deployment['id']}/create_flow_run", json={"parameters": {"slug": slug}}, timeout=10
    )
    created.raise_for_status()
    run_id = created.json()["id"]

    # no recap file, nothing stored: the run suspends and keeps the form's schema for the UI
    wait_for(lambda: _run(api, run_id)["state"]["type"] == "PAUSED" or None, 120, "the run to suspend", 0.5, logs)
    state = _run(api, run_id)["state"]
    assert state["name"] == "Suspended"
    keys = httpx.post(f"{api}/flow_runs/{run_id}/input/filter", json={"prefix": ""}, timeout=10).json()
    schema_entry = next(k for k in keys if k["key"].endswith("schema"))
    schema = (
        schema_entry["value"]
        if isinstance(schema_entry["value"], dict)
        else __import__("json").loads(schema_entry["value"])
    )
    assert {"summary", "sessions", "ideas", "outcomes"} <= set(schema["properties"])
    assert not (event_dir(Settings.from_env(eventkit_env), slug) / f"recap-{slug}.pdf").exists()
    # the attendance list comes from the check-ins: it does not wait for the form
    assert (event_dir(Settings.from_env(eventkit_env), slug) / f"attendance-{slug}.pdf").is_file()

    # the organiser's form, as the UI posts it
    form = {
        "summary": "Das BarCamp im Formular <script>alert(1)</script>",
        "sessions": [{"round": 1, "table": 1, "title": "Mitgliedergewinnung", "host": "Gisela Brandt"}],
        "ideas": ["ein digitaler Stammtisch"],
    }
    resumed = httpx.post(f"{api}/flow_runs/{run_id}/resume", json={"run_input": form}, timeout=10)
    resumed.raise_for_status()
    assert resumed.json()["status"] == "ACCEPT", resumed.text
    wait_for(
        lambda: _run(api, run_id)["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED") or None,
        180,
        "the run to finish",
        0.5,
        logs,
    )
    assert _run(api, run_id)["state"]["type"] == "COMPLETED", logs()

    pdf = event_dir(Settings.from_env(eventkit_env), slug) / f"recap-{slug}.pdf"
    text = pdf_text(pdf.read_bytes(), tmp)
    assert "Das BarCamp im Formular <script>alert(1)</script>" in text
    assert "Mitgliedergewinnung" in text and "Gisela Brandt" in text and "ein digitaler Stammtisch" in text
    assert (pdf.parent / "recap.yaml").is_file()
