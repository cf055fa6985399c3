"""`eventkit mailsink` as a user starts it: a real SMTP server that keeps each message as an .eml file."""

from __future__ import annotations

import ast
import email
import email.policy
import os
import select
import smtplib
import socket
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from eventkit.devtools.mailsink import free_port


def wait_for_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port}")


def read_until(proc: subprocess.Popen[str], text: str, timeout: float = 30) -> str:
    """What the command printed up to the line that contains `text`, as a person watching it would wait for it."""
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while text not in seen:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([proc.stdout], [], [], max(left, 0))
        if not ready:
            raise TimeoutError(f"the command did not print {text!r}; it printed {seen!r}")
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"the command ended without printing {text!r}; it printed {seen!r}")
        seen += line
    return seen


def test_mailsink_command_stores_what_it_receives(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "eventkit.cli", "--lang", "en", "mailsink", "--port", str(port), "--dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        started = read_until(proc, f"smtp://127.0.0.1:{port}")
        wait_for_port(port)
        msg = EmailMessage()
        msg["From"] = "noreply@events.example.org"
        msg["To"] = "Дмитрий Иванов <dmitri@example.org>"
        msg["Subject"] = "Grüße aus Gera"
        msg.set_content("Hallo!")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.send_message(msg)
        deadline = time.monotonic() + 10
        while not list(tmp_path.glob("*.eml")) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.terminate()
        rest, _ = proc.communicate(timeout=10)
    out = started + rest
    files = list(tmp_path.glob("*.eml"))
    assert len(files) == 1
    stored = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert stored["Subject"] == "Grüße aus Gera"
    assert stored["To"].addresses[0].display_name == "Дмитрий Иванов"
    assert f"smtp://127.0.0.1:{port}" in out
    assert "dmitri@example.org" in out


@pytest.mark.parametrize(
    ("args", "says"), [([], "pip install 'eventkit[dev]'"), (["--lang", "en"], "The mail sink needs aiosmtpd")]
)
def test_mailsink_without_aiosmtpd_says_how_to_install_it(args: list[str], says: str) -> None:
    # aiosmtpd is a dev extra: a None in sys.modules makes importing it fail as if it were not installed
    blocked = "import sys; sys.modules['aiosmtpd'] = None; from eventkit.cli import main; main()"
    env = {k: v for k, v in os.environ.items() if k != "EVENTKIT_LANGUAGE"}
    done = subprocess.run(
        [sys.executable, "-c", blocked, *args, "mailsink", "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode != 0 and done.stdout == ""
    assert says in done.stderr and "Traceback" not in done.stderr
    if not args:
        assert "Installieren Sie es mit" in done.stderr  # German unless asked otherwise


def test_only_the_dev_tools_import_aiosmtpd() -> None:
    root = Path(__file__).resolve().parents[1]
    importers = []
    for path in [*(root / "src" / "eventkit").rglob("*.py"), *(root / "flows").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] == "aiosmtpd" for name in names):
                importers.append(path.relative_to(root).as_posix())
    assert sorted(set(importers)) == ["src/eventkit/devtools/mailsink.py"]
