"""The deliver-outbox flow under Prefect: registration emails to a real SMTP server, retries, sweeps."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select, update

from eventkit import runtime
from eventkit.core.tokens import token_hash
from eventkit.db.store import Invitation, OutboxMessage, Person, Registration
from eventkit.devtools.mailsink import MailSink, Received
from eventkit.events.events import save_event
from eventkit.invitations.invitations import import_invitees
from eventkit.model.invitees import Invitee
from eventkit.model.registration_form import RegistrationInput
from eventkit.model.spec import parse_spec
from eventkit.registration import desk
from flows.delivery import deliver_outbox
from tests.conftest import TEMPLATES, make_settings
from tests.smtp_servers import DeferOnceHandler
from tests.test_spec import GOOD

pytestmark = pytest.mark.prefect

OTHER = GOOD.replace("2027", "2028")  # another event (its own slug)


def invite(rt: runtime.Runtime, slug: str, address: str, name: str, token: str) -> None:
    """An invitation whose personal link carries `token` (as if the invitation email had been sent)."""
    import_invitees(rt.store, slug, [Invitee(address, name, None, "de", 2)])
    digest = token_hash(rt.settings.secret_key, "register", token)
    with rt.store.session() as session:
        person_id = session.scalars(select(Person.id).where(Person.email == address)).one()
        session.execute(update(Invitation).where(Invitation.person_id == person_id).values(token_hash=digest))


def register(
    rt: runtime.Runtime, slug: str, address: str, name: str, *, token: str | None = None, now: datetime | None = None
) -> str:
    data = RegistrationInput(name, address, None, None, {})
    return desk.submit(rt, slug, data, invitation_token=token, now=now).status


def parsed(received: Received) -> EmailMessage:
    return email.message_from_bytes(received.data, policy=email.policy.default)  # type: ignore[return-value]


def calendar_method(message: EmailMessage) -> str | None:
    part = next((p for p in message.walk() if p.get_content_type() == "text/calendar"), None)
    if part is None:
        return None
    text = part.get_content()
    method = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("METHOD:"))
    assert part.get_param("method") == method
    return method


def flow_run_name(state: object) -> str:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(state.state_details.flow_run_id).name  # type: ignore[attr-defined]


@pytest.fixture
def configure(prefect_harness: None, tmp_path: Path, database_url: str) -> Iterator[Callable[..., runtime.Runtime]]:
    made: list[runtime.Runtime] = []

    def _configure(smtp_url: str) -> runtime.Runtime:
        rt = runtime.configure(make_settings(tmp_path, database_url, smtp_url))
        made.append(rt)
        return rt

    yield _configure
    for rt in made:
        rt.store.dispose()


def test_registration_emails_go_to_the_relay_once(configure) -> None:  # type: ignore[no-untyped-def]
    with MailSink() as sink:
        rt = configure(sink.url)
        slug = save_event(rt.store, rt.settings, parse_spec(GOOD, TEMPLATES)).slug
        other = save_event(rt.store, rt.settings, parse_spec(OTHER, TEMPLATES)).slug
        invite(rt, slug, "ayse@example.org", "Ayşe Yılmaz", "token-ayse")
        assert register(rt, slug, "ayse@example.org", "Ayşe Yılmaz", token="token-ayse") == "registered"
        assert register(rt, slug, "olena@example.org", "Olena Kovalenko") == "pending"
        assert register(rt, other, "dmitri@example.org", "Дмитрий Иванов") == "pending"

        state = deliver_outbox(slug, return_state=True)
        result = state.result()
        assert result == {"sent": 2, "retry": 0, "failed": 0, "expired": 0, "waiting": 0}
        assert flow_run_name(state) == f"deliver · {slug}"
        assert sorted(r.rcpt_tos[0] for r in sink.received) == ["ayse@example.org", "olena@example.org"]

        assert deliver_outbox(slug)["sent"] == 0  # nothing twice
        swept = deliver_outbox(return_state=True)
        assert swept.result()["sent"] == 1  # the sweep finds the other event's email
        assert flow_run_name(swept) == "deliver · sweep"
        assert deliver_outbox()["sent"] == 0
        messages = {r.rcpt_tos[0]: parsed(r) for r in sink.received}
    assert len(sink.received) == 3
    confirmed = messages["ayse@example.org"]
    assert confirmed["Subject"].startswith("Anmeldung bestätigt: Fachvernetzung 2027")
    assert calendar_method(confirmed) == "REQUEST"
    assert messages["olena@example.org"]["Subject"].startswith("Bitte bestätigen Sie Ihre Anmeldung")
    assert calendar_method(messages["olena@example.org"]) is None  # an unconfirmed request is no appointment
    with rt.store.session() as session:
        assert set(session.scalars(select(OutboxMessage.status))) == {"sent"}


def test_a_deferral_is_retried_until_the_email_goes_through(configure) -> None:  # type: ignore[no-untyped-def]
    handler = DeferOnceHandler()
    with MailSink(handler) as sink:
        rt = configure(sink.url)
        slug = save_event(rt.store, rt.settings, parse_spec(GOOD, TEMPLATES)).slug
        invite(rt, slug, "ayse@example.org", "Ayşe Yılmaz", "token-ayse")
        register(rt, slug, "ayse@example.org", "Ayşe Yılmaz", token="token-ayse")
        result = deliver_outbox(slug, retry_delays=[0.2, 0.2])
    assert handler.deferred == {"ayse@example.org"}
    assert [r.rcpt_tos[0] for r in handler.received] == ["ayse@example.org"]
    assert result["sent"] == 1 and result["waiting"] == 0
    with rt.store.session() as session:
        row = session.scalars(select(OutboxMessage)).one()
    assert row.status == "sent"


def test_a_relay_that_keeps_deferring_leaves_the_email_for_the_next_sweep(configure) -> None:  # type: ignore[no-untyped-def]
    class AlwaysDefer(DeferOnceHandler):
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
            self.deferred.add(envelope.rcpt_tos[0])
            return "451 4.7.1 Try again later"

    with MailSink(AlwaysDefer()) as sink:
        rt = configure(sink.url)
        slug = save_event(rt.store, rt.settings, parse_spec(GOOD, TEMPLATES)).slug
        register(rt, slug, "olena@example.org", "Olena Kovalenko")
        state = deliver_outbox(slug, retry_delays=[0.1, 0.1], return_state=True)
    assert state.is_failed()
    assert "TransientDeliveryError: 1 of 1 emails were deferred" in str(state.message), state.message
    with rt.store.session() as session:
        row = session.scalars(select(OutboxMessage)).one()
    assert row.status == "retry" and row.last_error is not None and row.last_error.startswith("451")
    with MailSink(port=sink.port) as relay:  # the relay takes mail again: the sweep sends it
        assert deliver_outbox()["sent"] == 1
        assert [r.rcpt_tos[0] for r in relay.received] == ["olena@example.org"]


def test_the_sweep_lets_unconfirmed_requests_lapse(configure) -> None:  # type: ignore[no-untyped-def]
    with MailSink() as sink:
        rt = configure(sink.url)
        slug = save_event(rt.store, rt.settings, parse_spec(GOOD, TEMPLATES)).slug
        long_ago = datetime.now(UTC) - timedelta(days=3)
        register(rt, slug, "olena@example.org", "Olena Kovalenko", now=long_ago)
        register(rt, slug, "dmitri@example.org", "Дмитрий Иванов")
        assert deliver_outbox(slug)["expired"] == 0  # a run for one event's emails leaves that to the sweep
        with rt.store.session() as session:
            assert session.scalars(select(Registration.status)).all() == ["pending", "pending"]
        result = deliver_outbox()
    assert result["expired"] == 1
    with rt.store.session() as session:
        statuses = dict(session.execute(select(Person.email, Registration.status).join(Registration.person)).all())
    assert statuses == {"olena@example.org": "expired", "dmitri@example.org": "pending"}
