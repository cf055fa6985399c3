"""`eventkit demo` on embedded defaults: every example invitee gets an invitation file."""

from __future__ import annotations

import csv
import email
import email.policy
from pathlib import Path

import pytest
from click.testing import CliRunner

from eventkit.cli import main
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.prefect


def test_demo_sends_every_example_invitation(prefect_harness: None, tmp_path: Path) -> None:
    out = tmp_path / "demo-output"
    result = CliRunner().invoke(main, ["--lang", "en", "demo", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    expected = 0
    for spec in EXAMPLES.glob("*.yaml"):
        with spec.with_name(f"{spec.stem}-invitees.csv").open(encoding="utf-8") as fh:
            expected += sum(1 for _ in csv.DictReader(fh))
    mails = sorted((out / "mail").glob("*.eml"))
    assert len(mails) == expected
    assert f"{expected} emails written" in result.output
    for path in mails:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert any(p.get_content_type() == "text/calendar" for p in msg.walk())
    # a second run starts from nothing and ends the same
    again = CliRunner().invoke(main, ["--lang", "en", "demo", "--out", str(out)], catch_exceptions=False)
    assert again.exit_code == 0
    assert len(list((out / "mail").glob("*.eml"))) == expected
