"""Export and erasure of a person (DSGVO Art. 15, 17, 20), round trips on SQLite and PostgreSQL, and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from eventkit import runtime
from eventkit.cli.privacy import person, purge
from eventkit.consent import consents
from eventkit.db.store import (
    ConsentRecord,
    Invitation,
    OutboxMessage,
    Person,
    Registration,
    SessionProposal,
    SurveyToken,
)
from eventkit.model.retention import policy
from eventkit.privacy import privacy, retention
from eventkit.runtime import Runtime
from tests.conftest import make_settings
from tests.test_retention import SUPPORT, attend, make_event

AYSE = "ayse@example.org"
JONAS = {"support_needs": ["childcare"], "photo_consent": False}


@pytest.fixture
def rt(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    configured = runtime.configure(make_settings(tmp_path, database_url))
    yield configured
    configured.store.dispose()


@pytest.fixture
def stored(rt: Runtime) -> dict[str, int]:
    """Ayşe came to a funded event last month, to an unfunded one, and is registered for one to come; Jonas
    came to the funded one too (and must not be touched)."""
    funded = make_event(rt, "funded-past", 30)
    unfunded = make_event(rt, "unfunded-past", 40, funded=False)
    upcoming = make_event(rt, "upcoming", -30)
    ids = {
        "funded": attend(rt, funded, AYSE, "Ayşe Yılmaz", present=True),
        "unfunded": attend(rt, unfunded, AYSE, "Ayşe Yılmaz", present=True),
        "upcoming": attend(rt, upcoming, AYSE, "Ayşe Yılmaz", present=False, answers={"dietary": ["halal"]}),
        "jonas": attend(rt, funded, "jonas@example.org", "Jonas Weber", present=True, answers=JONAS),
    }
    with rt.store.session() as session:
        registration = session.get(Registration, ids["unfunded"])
        assert registration is not None
        session.add(
            SessionProposal(
                event_id=registration.event_id,
                title="Queere Jugendarbeit auf dem Land",
                hosts=[ids["unfunded"]],
                from_registration_id=ids["unfunded"],
                source="registration",
                notes_nonce="n",
            )
        )
        consents.record(session, registration.person_id, None, consents.FUTURE_INVITATIONS, False, "unsubscribe-link")
    return ids


def everything(rt: Runtime) -> str:
    """Every row of the tables that hold people, as text, to look for a name or an address in it."""
    out = []
    with rt.store.session() as session:
        for model in (Person, Registration, Invitation, ConsentRecord, OutboxMessage, SurveyToken, SessionProposal):
            for row in session.scalars(select(model)):
                out.append(repr({c.key: getattr(row, c.key) for c in model.__mapper__.column_attrs}))
    return "\n".join(out)


def test_export_holds_everything_and_is_json(rt: Runtime, stored: dict[str, int]) -> None:
    data = privacy.export_person(rt, " Ayse@Example.org ")
    json.dumps(data)  # JSON-serialisable as it is
    assert data["found"] and data["person"]["name"] == "Ayşe Yılmaz"
    assert {r["event"] for r in data["registrations"]} == {"funded-past", "unfunded-past", "upcoming"}
    answers = {r["event"]: r["answers"] for r in data["registrations"]}
    assert answers["funded-past"]["support_other"] == SUPPORT["support_other"]
    assert answers["upcoming"] == {"dietary": ["halal"]}
    assert len(data["invitations"]) == 3
    kinds = {(c["kind"], c["event"], c["granted"]) for c in data["consents"]}
    assert ("privacy_notice", "funded-past", True) in kinds
    assert ("photos", "funded-past", True) in kinds
    assert ("future_invitations", None, False) in kinds
    assert data["emails"] and all(e["kind"] == "registration-confirmed" for e in data["emails"])
    assert all("raw" not in e for e in data["emails"])
    assert sorted(s["answered"] for s in data["survey_links"]) == [False, True, True]
    assert "anonymous" in data["survey_note"]
    assert [p["title"] for p in data["session_proposals"]] == ["Queere Jugendarbeit auf dem Land"]


def test_unknown_address_exports_nothing(rt: Runtime, stored: dict[str, int]) -> None:
    data = privacy.export_person(rt, "niemand@example.org")
    assert not data["found"] and data["registrations"] == [] and data["person"] is None


def test_forget_keeps_only_the_funder_record_and_says_so(rt: Runtime, stored: dict[str, int]) -> None:
    report = privacy.forget_person(rt, AYSE)
    assert report.found and report.person.startswith("anonymised")
    assert report.counts["registrations_deleted"] == 2
    assert report.counts["registrations_kept_for_funder"] == 1
    assert report.counts["active_registrations_removed"] == 1
    assert report.counts["invitations_deleted"] == 3
    assert report.counts["emails_blanked"] == 3
    assert report.counts["session_links_removed"] == 1
    [kept] = report.kept
    assert kept["event"] == "funded-past" and "funder" in kept["why"]
    assert kept["until"] == policy(make_spec_of(rt, "funded-past")).funder_until.date().isoformat()

    # forget, then export: nothing is found under the address, and no row holds the address or the answers
    assert privacy.export_person(rt, AYSE)["found"] is False
    text = everything(rt)
    assert AYSE not in text and SUPPORT["support_other"] not in text and "halal" not in text
    with rt.store.session() as session:
        kept_row = session.get(Registration, stored["funded"])
        assert kept_row is not None and kept_row.answers == {}
        assert kept_row.person.name == "Ayşe Yılmaz" and kept_row.person.email.endswith("@anonymised.invalid")
        assert session.get(Registration, stored["unfunded"]) is None
        proposal = session.scalars(select(SessionProposal)).one()
        assert proposal.hosts == [] and proposal.from_registration_id is None
        # Jonas is untouched
        jonas = session.get(Registration, stored["jonas"])
        assert jonas is not None and jonas.person.email == "jonas@example.org" and jonas.answers == JONAS
    # a second request finds nothing (idempotent)
    again = privacy.forget_person(rt, AYSE)
    assert not again.found and again.counts == {}


def test_forget_without_a_funder_record_deletes_the_person(rt: Runtime, database_url: str) -> None:
    spec = make_event(rt, "unfunded-only", 20, funded=False)
    attend(rt, spec, AYSE, "Ayşe Yılmaz", present=True)
    report = privacy.forget_person(rt, AYSE)
    assert report.person == "deleted" and report.kept == []
    with rt.store.session() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 0
        assert session.scalar(select(func.count()).select_from(ConsentRecord)) == 0
        assert session.scalar(select(func.count()).select_from(SurveyToken)) == 0
    assert AYSE not in everything(rt) and "Ayşe" not in everything(rt)


def test_forget_is_one_transaction(rt: Runtime, stored: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    before = everything(rt)

    def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(retention, "unlink_sessions", broken)
    with pytest.raises(RuntimeError):
        privacy.forget_person(rt, AYSE)
    assert everything(rt) == before


def make_spec_of(rt: Runtime, slug: str) -> Any:
    from eventkit.registration.specs import event_spec

    return event_spec(rt, slug)


def test_cli_export_forget_and_purge(rt: Runtime, stored: dict[str, int], tmp_path: Path, database_url: str) -> None:
    env = {
        "EVENTKIT_DATABASE_URL": rt.settings.database_url,
        "EVENTKIT_VAR_DIR": str(rt.settings.var_dir),
        "EVENTKIT_SECRET_KEY": rt.settings.secret_key,
        "EVENTKIT_TEMPLATE_DIR": str(rt.settings.template_dir),
        "EVENTKIT_LANGUAGE": "en",
    }
    runner = CliRunner()
    out = tmp_path / "export.json"
    result = runner.invoke(person, ["export", AYSE, "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8"))["person"]["name"] == "Ayşe Yılmaz"

    result = runner.invoke(person, ["export", "not-an-address"], env=env)
    assert result.exit_code == 2 and "EMAIL" in result.output

    result = runner.invoke(person, ["forget", AYSE], input="n\n", env=env)
    assert result.exit_code == 1 and "Nothing was changed" in result.output
    result = runner.invoke(person, ["forget", AYSE, "--yes"], env=env)
    assert result.exit_code == 0, result.output
    assert "Kept for funded-past until" in result.output and "funder requires it" in result.output
    result = runner.invoke(person, ["forget", AYSE, "--yes"], env=env)
    assert "Nothing is stored about ayse@example.org" in result.output

    result = runner.invoke(purge, ["--dry-run"], env=env)
    assert result.exit_code == 0, result.output
    assert "Dry run" in result.output and "3 events are not due yet" in result.output
    result = runner.invoke(purge, ["--event", "no-such-event"], env=env)
    assert result.exit_code == 2 and "no-such-event" in result.output
