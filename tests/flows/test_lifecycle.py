"""event-lifecycle without a Prefect server: invitations sent, phases named but not scheduled (no deployments)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from eventkit import runtime
from eventkit.events.events import save_event
from eventkit.model import lifecycle
from eventkit.model.spec import parse_spec
from flows.lifecycle import event_lifecycle
from tests.conftest import TEMPLATES, make_settings
from tests.test_spec import GOOD

pytestmark = pytest.mark.prefect


@pytest.fixture
def slug(prefect_harness: None, tmp_path: Path) -> Iterator[str]:
    rt = runtime.configure(make_settings(tmp_path, f"sqlite:///{tmp_path / 'eventkit.sqlite3'}"))
    yield save_event(rt.store, rt.settings, parse_spec(GOOD, TEMPLATES)).slug
    rt.store.dispose()


def test_on_the_embedded_server_nothing_is_deployed(slug: str) -> None:
    timeline = {p["phase"]: p for p in event_lifecycle(slug, now=datetime(2027, 11, 15, tzinfo=UTC))}
    assert timeline["reminder-7d"]["status"] == lifecycle.PAST
    assert timeline["reminder-1d"]["status"] == lifecycle.NOT_DEPLOYED
    assert timeline["reminder-1d"]["scheduled_time"] == "2027-11-19T11:00:00+00:00"
    assert timeline["registration-close"]["status"] == lifecycle.NOT_DEPLOYED
    assert timeline["recap"]["status"] == lifecycle.NOT_DEPLOYED
    assert all(p["flow_run_id"] is None for p in timeline.values())
