"""Whether a claim's holder still lives: a run of the embedded default by its process, a run on a Prefect server
by what the server says of it; a claim nobody here can ask about keeps its lease."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from uuid import uuid4

import pytest
from prefect import flow
from prefect.runtime import flow_run

from flows import claims


def test_a_claim_of_the_embedded_default_lives_as_long_as_its_process() -> None:
    here = claims.host_key()
    ended = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    ).stdout.strip()
    alive = f"{uuid4()} pid:{os.getpid()}@{here}"
    dead = f"{uuid4()} pid:{ended}@{here}"
    elsewhere = f"{uuid4()} pid:{ended}@00000000"  # another host's process: nobody here can tell
    unnamed = str(uuid4())  # named before claims said where they run: the lease decides
    assert claims.dead([alive, dead, elsewhere, unnamed, "run-1"]) == {dead}


def test_a_killed_process_not_yet_reaped_runs_nothing() -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # noqa: S603
    try:
        claim = f"{uuid4()} pid:{sleeper.pid}@{claims.host_key()}"
        assert claims.dead([claim]) == set()
        os.kill(sleeper.pid, signal.SIGKILL)
        for _ in range(200):  # a zombie until its parent (this test) waits for it
            if claims.process_gone(sleeper.pid):
                break
            time.sleep(0.01)
        assert claims.dead([claim]) == {claim}
    finally:
        sleeper.kill()
        sleeper.wait()


@flow
def finished() -> str:
    return str(flow_run.get_id())


@flow
def fails() -> None:
    raise ValueError("a bug")


@flow
def asks(about: list[str]) -> list[str]:
    return sorted(claims.dead(about))


@flow
def running() -> tuple[str, list[str]]:
    mine = claims.claimant()
    assert mine is not None
    return mine, asks([mine])  # a subflow asks about its parent, which is running


@pytest.mark.prefect
def test_a_claim_of_a_run_on_a_server_lives_as_long_as_prefect_says(prefect_harness: None) -> None:
    where = claims.origin()
    assert where.startswith(claims.API)  # the harness is a Prefect server
    completed = f"{finished()} {where}"
    failed = f"{fails(return_state=True).state_details.flow_run_id} {where}"
    gone = f"{uuid4()} {where}"  # no such run (deleted)
    other_server = f"{uuid4()} {claims.API}00000000"
    assert claims.dead([completed, failed, gone, other_server]) == {completed, failed, gone}
    mine, answer = running()
    assert answer == []  # alive while its run runs
    assert claims.dead([mine]) == {mine}  # and dead once it has finished
