"""The relay's limits under Prefect: global limits made from the settings, and messages no faster than the rate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect import get_client

from eventkit import runtime
from eventkit.core.settings import Settings, SettingsError
from eventkit.devtools.mailsink import MailSink
from eventkit.events.events import save_event
from eventkit.mail.transport import Pacer
from eventkit.model.spec import parse_spec
from flows.relay import CONNECTIONS, RATE, wanted_limits
from flows.reminders import send_reminder
from tests.conftest import TEMPLATES, make_settings
from tests.flows.test_delivery import invite, register
from tests.test_spec import GOOD

pytestmark = pytest.mark.prefect


@pytest.fixture
def rt(prefect_harness: None, tmp_path: Path, sink: MailSink) -> Iterator[runtime.Runtime]:
    settings = make_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 'eventkit.sqlite3'}",
        sink.url,
        EVENTKIT_SMTP_RATE_LIMIT="120/minute",
        EVENTKIT_SMTP_CONNECTIONS="1",
    )
    configured = runtime.configure(settings)
    yield configured
    configured.store.dispose()
    with get_client(sync_client=True) as client:  # the embedded server is the session's: leave it as found
        for name in (CONNECTIONS, RATE):
            client.delete_global_concurrency_limit_by_name(name)


def test_the_settings_ask_for_a_rate_and_a_connection_limit(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite://", "smtp://127.0.0.1:1025", EVENTKIT_SMTP_RATE_LIMIT="30/minute")
    assert wanted_limits(settings) == {RATE: (1, 0.5)}  # one message every two seconds, no burst
    fast = make_settings(tmp_path, "sqlite://", "smtp://127.0.0.1:1025", EVENTKIT_SMTP_RATE_LIMIT="10/second")
    assert wanted_limits(fast) == {RATE: (10, 10.0)}
    both = make_settings(
        tmp_path, "sqlite://", "smtp://127.0.0.1:1025", EVENTKIT_SMTP_CONNECTIONS="2", EVENTKIT_SMTP_RATE_LIMIT="off"
    )
    assert wanted_limits(both) == {CONNECTIONS: (2, 0.0)}
    # without a relay (the mail directory) there is nothing to limit
    assert wanted_limits(make_settings(tmp_path, "sqlite://", EVENTKIT_SMTP_RATE_LIMIT="30/minute")) == {}
    with pytest.raises(SettingsError, match="EVENTKIT_SMTP_RATE_LIMIT: must look like 10/minute"):
        Settings.from_env({"EVENTKIT_SMTP_RATE_LIMIT": "30 per minute", "EVENTKIT_SECRET_KEY": "x"})
    with pytest.raises(SettingsError, match="EVENTKIT_SMTP_CONNECTIONS: must be at least 1"):
        Settings.from_env({"EVENTKIT_SMTP_CONNECTIONS": "0", "EVENTKIT_SECRET_KEY": "x"})


def test_a_process_pacer_spaces_messages_evenly() -> None:
    pacer = Pacer(10, 1)  # ten a second: 100 ms apart

    async def five() -> list[float]:
        times = []
        for _ in range(5):
            await pacer()
            times.append(time.monotonic())
        return times

    times = asyncio.run(five())
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 0.09  # never two within less than the interval (a clock tick of slack)


def test_reminders_keep_the_global_rate_limit(rt: runtime.Runtime, sink: MailSink) -> None:
    slug = save_event(rt.store, rt.settings, parse_spec(GOOD, TEMPLATES)).slug
    names = ["Ayşe Yılmaz", "Дмитрий Иванов", "محمد الأحمد", "Jürgen Müller", "Nguyễn Thị Hương"]
    for n, name in enumerate(names):
        address = f"person{n}@example.org"
        invite(rt, slug, address, name, f"token-{n}")
        assert register(rt, slug, address, name, token=f"token-{n}") == "registered"
    before = len(sink.received)

    result = send_reminder(slug, "1d")
    assert result["sent"] == 5

    with get_client(sync_client=True) as client:
        rate = client.read_global_concurrency_limit_by_name(RATE)
        connections = client.read_global_concurrency_limit_by_name(CONNECTIONS)
    assert (rate.limit, rate.slot_decay_per_second, rate.active) == (2, 2.0, True)
    assert (connections.limit, connections.active) == (1, True)
    assert connections.active_slots == 0  # the delivery gave its connection slot back
    arrivals = [r.at for r in sink.received[before:]]
    assert len(arrivals) == 5
    # two a second, at most two at once: five messages cannot arrive within less than one second
    assert arrivals[-1] - arrivals[0] >= 1.0
