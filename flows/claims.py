"""Whether an outbox claim's holder still lives: Prefect's word on its run, or on the embedded default its process.

A delivery claims the emails it is about to send (status `sending`) under a name that says which flow run
claimed them and where it runs: `<run id> api:<hash of the Prefect API's URL>` for a run on a Prefect server,
`<run id> pid:<process id>@<hash of the host name>` for a run of the embedded default (no PREFECT_API_URL: a
temporary server that lives as long as the command, so a run ends with its process). A claim is dead when
Prefect reports its run crashed, failed, cancelled or finished, or knows no such run; on the embedded
default, when its process is gone. Dead claims are taken over at once. A claim nobody here can ask about
(another Prefect server, a process on another host, a claim named before claims said where they run) keeps
its lease (eventkit.mail.outbox.CLAIM_LEASE). Nothing below the entry points asks Prefect: the mail layer is
handed the dead claimants as a set.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections.abc import Iterable
from pathlib import Path
from uuid import UUID

from prefect import get_client
from prefect.client.orchestration import SyncPrefectClient
from prefect.exceptions import ObjectNotFound
from prefect.runtime import flow_run
from prefect.settings import get_current_settings

log = logging.getLogger(__name__)
API = "api:"
PROCESS = "pid:"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _api() -> str | None:
    """This process's Prefect server, as claims name it; None on the embedded default."""
    url = get_current_settings().api.url
    return _digest(str(url).rstrip("/")) if url else None


def host_key() -> str:
    """This host, as claims name it (a digest of its name)."""
    return _digest(socket.gethostname())


def origin() -> str:
    """Where this process's flow runs live: on a Prefect server, or (embedded default) in this process."""
    api = _api()
    return f"{API}{api}" if api else f"{PROCESS}{os.getpid()}@{host_key()}"


def claimant() -> str | None:
    """The name a delivery's claims carry: this flow run and where it runs, the same in every retry of the run."""
    run_id = flow_run.get_id()
    return f"{run_id} {origin()}" if run_id else None


def process_gone(pid: int) -> bool:
    """Whether no process of that id runs on this host (a killed one its parent has not reaped runs nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # someone else's process
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def _run_ended(client: SyncPrefectClient, run_id: str) -> bool:
    try:
        run = client.read_flow_run(UUID(run_id))
    except ObjectNotFound:
        return True  # gone: deleted, so nothing of it runs
    except ValueError:
        return False  # not a flow run's id
    return run.state is not None and run.state.is_final()


def dead(claims: Iterable[str]) -> frozenset[str]:
    """Those of the claimants whose run has ended (see the module's docstring); never this run itself."""
    mine, api, host = claimant(), _api(), host_key()
    ended: set[str] = set()
    ask: list[tuple[str, str]] = []
    for claim in claims:
        run_id, _, where = claim.partition(" ")
        if claim == mine:
            continue
        if where.startswith(PROCESS):
            pid, _, at = where.removeprefix(PROCESS).partition("@")
            if at == host and pid.isdigit() and process_gone(int(pid)):
                ended.add(claim)
        elif api is not None and where == f"{API}{api}":
            ask.append((claim, run_id))
    if ask:
        try:
            with get_client(sync_client=True) as client:
                ended.update(claim for claim, run_id in ask if _run_ended(client, run_id))
        except Exception as exc:  # noqa: BLE001 - a question Prefect cannot answer now leaves the claims their lease
            log.warning("could not ask Prefect whether the runs holding claims have ended: %s", exc)
    return frozenset(ended)
