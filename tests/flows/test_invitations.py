"""The send-invitations flow under Prefect, delivering to real SMTP servers, on SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import vobject
from sqlalchemy import func, select

from eventkit import runtime
from eventkit.core.settings import Settings
from eventkit.core.tokens import verify
from eventkit.db.store import Invitation, OutboxMessage
from eventkit.devtools.mailsink import MailSink, SinkHandler
from eventkit.events.events import save_event
from eventkit.model.spec import parse_spec
from flows.invitations import send_invitations
from tests.conftest import TEMPLATES, make_settings
from tests.smtp_servers import DeferOnceHandler, DropHandler, RefuseHandler

pytestmark = pytest.mark.prefect

SPEC = """
title: "Fachvernetzung 2027 <Hass im Amt>"
format: fachvernetzung
start: 2027-11-20T12:00
end: 2027-11-20T17:00
venue: {name: Rathaus Gifhorn, address: "Marktplatz 1, 38518 Gifhorn", accessibility: stufenlos}
organiser: {name: Queeres Netzwerk Gifhorn e.V., email: info@qng.example.org}
capacity: 40
registration_deadline: 2027-11-16T23:59
funding: Gefördert im Rahmen des Bundesprogramms „Demokratie leben!“
"""
PEOPLE = [
    ("ayse@example.org", "Ayşe Yılmaz", "Interkultureller Verein Gera e.V.", "de"),
    ("m.alahmad@example.org", "محمد الأحمد", "", "en"),
    ("dmitri@example.org", "Дмитрий Иванов", "Abli e.V.", "de"),
    ("olena@example.org", "Olena Kovalenko", "", "en"),
    ("info@bücherei-beispiel.example", "Stadtbücherei", "", ""),
    ("joerg@example.org", "Jörg Müller", "Bündnis für Demokratie", "de"),
]


def write_csv(path: Path, people: list[tuple[str, str, str, str]]) -> Path:
    lines = ["email,name,organisation,language"] + [",".join(p) for p in people]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def configure(prefect_harness: None, tmp_path: Path, database_url: str) -> Iterator[object]:
    made: list[runtime.Runtime] = []

    def _configure(smtp_url: str) -> tuple[Settings, str]:
        settings = make_settings(tmp_path, database_url, smtp_url)
        rt = runtime.configure(settings)
        made.append(rt)
        spec = parse_spec(SPEC, TEMPLATES)
        save_event(rt.store, settings, spec)
        return settings, spec.slug

    yield _configure
    for rt in made:
        rt.store.dispose()


def parsed(handler: SinkHandler) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(r.data, policy=email.policy.default) for r in handler.received]  # type: ignore[misc]


def test_every_invitee_gets_a_personal_invitation_with_calendar_invite(configure, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with MailSink() as sink:
        settings, slug = configure(sink.url)
        result = send_invitations(slug, str(write_csv(tmp_path / "inv.csv", PEOPLE)))
        messages = parsed(sink.handler)
    assert result["sent"] == 6 and result["failed"] == 0
    assert sorted(m["To"].addresses[0].display_name for m in messages) == sorted(p[1] for p in PEOPLE)
    assert any(m["To"].addresses[0].domain.startswith("xn--") for m in messages)
    uids = set()
    tokens = []
    for m in messages:
        assert m["Reply-To"].addresses[0].addr_spec == "info@qng.example.org"
        assert m["Auto-Submitted"] == "auto-generated"
        cal_part = next(p for p in m.walk() if p.get_content_type() == "text/calendar")
        cal = vobject.readOne(cal_part.get_content())
        assert cal_part.get_param("method") == cal.method.value == "REQUEST"
        attendee_addr = cal.vevent.attendee.value.removeprefix("mailto:")
        assert attendee_addr == m["To"].addresses[0].addr_spec
        uids.add(cal.vevent.uid.value)
        # the invitation's language follows the invitee
        text = m.get_body(("plain",)).get_content()
        html = m.get_body(("html",)).get_content()
        assert "&lt;Hass im Amt&gt;" in html and "<Hass im Amt>" not in html  # autoescaped title
        link = re.search(r"https://events\.example\.org/e/[a-z0-9-]+/register\?t=([A-Za-z0-9_-]+)", text)
        assert link, text
        tokens.append(link.group(1))
        assert link.group(1) not in cal_part.get_content()  # no personal link in the calendar
    assert len(uids) == 1
    assert len(set(tokens)) == 6
    rt = runtime.get()
    with rt.store.session() as s:
        hashes = list(s.scalars(select(Invitation.token_hash)))
    assert all(any(verify(settings.secret_key, "register", t, h) for h in hashes) for t in tokens)
    assert not any(verify(settings.secret_key, "manage", t, h) for t in tokens for h in hashes)  # bound to purpose


def test_rerun_sends_nothing_and_new_invitees_get_only_theirs(configure, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with MailSink() as sink:
        _, slug = configure(sink.url)
        send_invitations(slug, str(write_csv(tmp_path / "a.csv", PEOPLE[:3])))
        assert len(sink.received) == 3
        send_invitations(slug, str(write_csv(tmp_path / "a.csv", PEOPLE[:3])))
        assert len(sink.received) == 3
        result = send_invitations(slug, str(write_csv(tmp_path / "b.csv", PEOPLE)))
        new = [r.rcpt_tos[0] for r in sink.received[3:]]
    assert sorted(new) == sorted(["olena@example.org", "info@xn--bcherei-beispiel-jzb.example", "joerg@example.org"])
    assert result["sent"] == 6
    with runtime.get().store.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 6


def test_deferred_messages_are_retried_until_they_go_through(configure, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    handler = DeferOnceHandler()
    with MailSink(handler) as sink:
        _, slug = configure(sink.url)
        result = send_invitations(slug, str(write_csv(tmp_path / "inv.csv", PEOPLE)), retry_delays=[0.2, 0.2])
    assert result["sent"] == 6 and result["retried"] == 6 and result["waiting"] == 0
    assert len(handler.deferred) == 6 and len(handler.received) == 6


def test_permanent_refusal_marks_that_recipient_failed_with_the_reply(configure, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    handler = RefuseHandler(refused={"dmitri@example.org"})
    with MailSink(handler) as sink:
        _, slug = configure(sink.url)
        result = send_invitations(slug, str(write_csv(tmp_path / "inv.csv", PEOPLE)))
    assert result["sent"] == 5 and result["failed"] == 1
    with runtime.get().store.session() as s:
        failed = s.scalars(select(OutboxMessage).where(OutboxMessage.status == "failed")).all()
    assert [f.recipient for f in failed] == ["dmitri@example.org"]
    assert failed[0].last_error is not None and failed[0].last_error.startswith("550")


def test_dropped_connection_loses_nothing(configure, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    handler = DropHandler(drops=2)
    with MailSink(handler) as sink:
        _, slug = configure(sink.url)
        result = send_invitations(slug, str(write_csv(tmp_path / "inv.csv", PEOPLE)), retry_delays=[0.2, 0.2])
    assert result["sent"] == 6
    assert sorted(r.rcpt_tos[0] for r in handler.received) == sorted(
        {r.rcpt_tos[0] for r in handler.received}
    )  # each once
    assert len(handler.received) == 6


def test_delivery_report_artifact(configure, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from prefect.settings import PREFECT_API_URL

    handler = RefuseHandler(refused={"olena@example.org"})
    with MailSink(handler) as sink:
        _, slug = configure(sink.url)
        send_invitations(slug, str(write_csv(tmp_path / "inv.csv", PEOPLE)))
    # asked of the Prefect API as the UI asks it (the client's helper sends nulls this server refuses)
    response = httpx.post(
        f"{PREFECT_API_URL.value()}/artifacts/filter",
        json={"artifacts": {"key": {"any_": [f"delivery-report-{slug}"]}}, "sort": "CREATED_DESC", "limit": 5},
    )
    response.raise_for_status()
    artifacts = response.json()
    assert artifacts
    markdown = artifacts[0]["data"]
    assert "| 5 | 0 | 1 | 0 | 0 | 6 |" in markdown
    assert "550" in markdown
    assert "olena@example.org" not in markdown and "@example.org" not in markdown  # no address, not even masked
