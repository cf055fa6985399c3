"""The retention purge on a store with events at several ages: what goes, what stays, a rerun does nothing,
a dry run changes nothing; on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select, update

from eventkit.consent import consents
from eventkit.core.files import event_dir
from eventkit.core.tokens import token_hash
from eventkit.core.validation import ValidationFailed
from eventkit.db.store import (
    ConsentRecord,
    Event,
    Invitation,
    OutboxMessage,
    Person,
    PurgeRecord,
    Registration,
    SurveyResponse,
    SurveyToken,
)
from eventkit.door import checkins
from eventkit.events.events import save_event
from eventkit.invitations.invitations import import_invitees
from eventkit.model.invitees import Invitee
from eventkit.model.registration_form import RegistrationInput
from eventkit.model.retention import add_months, policy
from eventkit.model.spec import EventSpec, parse_spec
from eventkit.privacy import retention
from eventkit.registration import desk
from eventkit.runtime import Runtime
from tests.conftest import TEMPLATES, make_settings
from tests.test_spec import GOOD
from tests.test_survey import ended_spec_text

UNFUNDED = "\n".join(line for line in GOOD.splitlines() if not line.startswith("funding:")) + "\n"
SUPPORT = {"support_needs": ["sign_language"], "support_other": "Assistenz für Rollstuhl", "photo_consent": True}


@pytest.fixture
def rt(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    runtime = Runtime.from_settings(make_settings(tmp_path, database_url))
    yield runtime
    runtime.store.dispose()


def make_event(rt: Runtime, slug: str, days_ago: int, *, funded: bool = True, extra: str = "") -> EventSpec:
    text = ended_spec_text(days_ago, extra=f"slug: {slug}\n{extra}", base=GOOD if funded else UNFUNDED)
    spec = parse_spec(text, TEMPLATES)
    save_event(rt.store, rt.settings, spec)
    return spec


def attend(
    rt: Runtime, spec: EventSpec, email: str, name: str, *, present: bool, answers: dict[str, Any] | None = None
) -> int:
    """An invited person registered (with answers) before the event, checked in if `present`."""
    import_invitees(rt.store, spec.slug, [Invitee(email, name, "Verein e.V.", "de", 2)])
    token = secrets.token_urlsafe(16)
    with rt.store.session() as session:
        person_id = session.scalars(select(Person.id).where(Person.email == email)).one()
        event_id = session.scalars(select(Event.id).where(Event.slug == spec.slug)).one()
        session.execute(
            update(Invitation)
            .where(Invitation.person_id == person_id, Invitation.event_id == event_id)
            .values(token_hash=token_hash(rt.settings.secret_key, "register", token))
        )
    data = RegistrationInput(name, email, "Verein e.V.", "de", dict(answers or SUPPORT))
    outcome = desk.submit(rt, spec.slug, data, invitation_token=token, now=spec.start - timedelta(days=10))
    assert outcome.status == "registered"
    if present:
        assert checkins.check_in(rt, spec.slug, outcome.registration_id, True, now=spec.start)
    with rt.store.session() as session:
        session.add(
            SurveyToken(event_id=event_id, registration_id=outcome.registration_id, nonce="n", answered=present)
        )
        if present:
            session.add(
                SurveyResponse(
                    id=secrets.token_hex(16), event_id=event_id, answers={"overall": 4}, submitted_on=date.today()
                )
            )
    return outcome.registration_id


def files(rt: Runtime, slug: str) -> Path:
    folder = event_dir(rt.settings, slug)
    folder.mkdir(parents=True, exist_ok=True)
    for name in (f"recap-{slug}.pdf", f"attendance-{slug}.pdf", f"attendance-{slug}-blank.pdf", f"survey-{slug}.csv"):
        (folder / name).write_bytes(b"%PDF-1.7 test")
    recap = {"event": slug, "photos": [{"file": "photos/01.jpg", "usable": True, "people": ["ayse@example.org"]}]}
    (folder / "recap.yaml").write_text(yaml.safe_dump(recap), encoding="utf-8")
    return folder


def count(rt: Runtime, model: Any, *where: Any) -> int:
    with rt.store.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def event_id(rt: Runtime, slug: str) -> int:
    with rt.store.session() as session:
        return session.scalars(select(Event.id).where(Event.slug == slug)).one()


@pytest.fixture
def ages(rt: Runtime) -> dict[str, EventSpec]:
    """Four events: a recent one, two past the six months (funded and not), one past the ten years."""
    specs = {
        "recent": make_event(rt, "recent", 30),
        "old-unfunded": make_event(rt, "old-unfunded", 200, funded=False),
        "old-funded": make_event(rt, "old-funded", 200),
        "ancient": make_event(rt, "ancient", 3700),
    }
    attend(rt, specs["recent"], "ayse@example.org", "Ayşe Yılmaz", present=False)
    attend(rt, specs["old-unfunded"], "ayse@example.org", "Ayşe Yılmaz", present=True)
    attend(rt, specs["old-unfunded"], "jonas@example.org", "Jonas Weber", present=True)
    attend(rt, specs["old-funded"], "dmitri@example.org", "Дмитрий Иванов", present=True)
    attend(rt, specs["old-funded"], "olena@example.org", "Olena Kovalenko", present=False)
    attend(rt, specs["ancient"], "leyla@example.org", "Leyla Demir", present=True)
    # someone invited to an old event only, who unsubscribed from invitations
    import_invitees(rt.store, "old-unfunded", [Invitee("keine.post@example.org", "Kai Post", None, "de", 2)])
    with rt.store.session() as session:
        person = session.scalars(select(Person).where(Person.email == "keine.post@example.org")).one()
        consents.record(session, person.id, None, consents.FUTURE_INVITATIONS, False, "unsubscribe-link")
    for slug in specs:
        files(rt, slug)
    return specs


def test_policy_defaults_and_spec_values() -> None:
    spec = parse_spec(GOOD, TEMPLATES)
    rules = policy(spec)
    assert rules.funded
    assert rules.personal_until == datetime(2028, 5, 20, 16, 0, tzinfo=UTC)  # 17:00 Berlin (CET), six months on
    assert rules.funder_until == datetime(2037, 11, 20, 16, 0, tzinfo=UTC)
    own = parse_spec(
        GOOD + "retention_months: 3\nfunder_retention_years: 5\nprivacy_notice_version: 2025-03\n", TEMPLATES
    )
    assert policy(own).personal_until.date() == date(2028, 2, 20)
    assert policy(own).funder_until.date() == date(2032, 11, 20)
    assert consents.notice_version(own) == "2025-03"
    assert consents.notice_version(spec) == "1"
    assert add_months(datetime(2027, 8, 31, tzinfo=UTC), 6) == datetime(2028, 2, 29, tzinfo=UTC)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("retention_months: 0\n", "retention_months"),
        ("retention_months: sechs\n", "retention_months"),
        ("funder_retention_years: 31\n", "funder_retention_years"),
        ("privacy_notice_version: [1, 2]\n", "privacy_notice_version"),
        ("retention_months: 120\nfunder_retention_years: 2\n", "retention_months"),
    ],
)
def test_bad_retention_keys_are_named(extra: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_spec(GOOD + extra, TEMPLATES, source="event.yaml")
    assert field in info.value.render("en")


def test_what_goes_and_what_stays(rt: Runtime, ages: dict[str, EventSpec]) -> None:
    before = {slug: count(rt, Registration, Registration.event_id == event_id(rt, slug)) for slug in ages}
    assert before == {"recent": 1, "old-unfunded": 2, "old-funded": 2, "ancient": 1}
    report = retention.purge(rt)
    stages = {e.slug: e.stage for e in report.events}
    assert stages == {
        "old-unfunded": "personal data",
        "old-funded": "personal data",
        "ancient": "personal data, funder record",
    }
    assert report.not_due == 1

    # the recent event is untouched, and so is its person (who also came to an old event)
    recent = event_id(rt, "recent")
    assert count(rt, Registration, Registration.event_id == recent) == 1
    assert count(rt, Invitation, Invitation.event_id == recent) == 1
    assert count(rt, ConsentRecord, ConsentRecord.event_id == recent) >= 1
    assert count(rt, Person, Person.email == "ayse@example.org") == 1
    with rt.store.session() as session:
        kept = session.scalars(select(Registration).where(Registration.event_id == recent)).one()
        assert kept.answers["support_other"] == "Assistenz für Rollstuhl"

    # an old event without funding: nothing personal left
    old = event_id(rt, "old-unfunded")
    for model in (Registration, Invitation, SurveyToken, ConsentRecord):
        assert count(rt, model, model.event_id == old) == 0, model
    assert count(rt, Person, Person.email == "jonas@example.org") == 0
    with rt.store.session() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.event_id == old)).all()
        assert rows and all(r.recipient == "" and r.raw is None and r.params is None for r in rows)
        assert all(r.person_id is None and r.idempotency_key.startswith("purged:") for r in rows)
        # the unsubscribed person stays as an address on the do-not-invite list, without name
        kai = session.scalars(select(Person).where(Person.email == "keine.post@example.org")).one()
        assert (kai.name, kai.organisation) == ("", None)
        record = session.scalars(select(PurgeRecord).where(PurgeRecord.event_id == old)).one()
        assert record.figures["registrations"] == {"registered": 2}
        assert record.figures["attended"] == 2 and record.figures["organisations"] == 1
        assert record.figures["survey_invited"] == 2 and record.figures["survey_answered"] == 2
    assert count(rt, SurveyResponse, SurveyResponse.event_id == old) == 2  # anonymous: they stay
    folder = event_dir(rt.settings, "old-unfunded")
    assert sorted(p.name for p in folder.iterdir()) == [
        "recap-old-unfunded.pdf",
        "recap.yaml",
        "survey-old-unfunded.csv",
    ]
    photo = yaml.safe_load((folder / "recap.yaml").read_text(encoding="utf-8"))["photos"][0]
    assert photo["people"] == [] and photo["usable"] is False

    # a funded event: who came stays on the attendance record (name, organisation), without address or answers
    funded = event_id(rt, "old-funded")
    with rt.store.session() as session:
        rows = session.execute(select(Registration, Person).join(Person).where(Registration.event_id == funded)).all()
        assert [(p.name, p.organisation, r.answers) for r, p in rows] == [("Дмитрий Иванов", "Verein e.V.", {})]
        assert rows[0][1].email.endswith("@anonymised.invalid")
    assert count(rt, Person, Person.email.in_(["dmitri@example.org", "olena@example.org"])) == 0
    assert (event_dir(rt.settings, "old-funded") / "attendance-old-funded.pdf").is_file()
    assert not (event_dir(rt.settings, "old-funded") / "attendance-old-funded-blank.pdf").exists()

    # past the funder retention: the attendance record goes as well
    ancient = event_id(rt, "ancient")
    assert count(rt, Registration, Registration.event_id == ancient) == 0
    assert count(rt, Person, Person.email == "leyla@example.org") == 0
    assert not (event_dir(rt.settings, "ancient") / "attendance-ancient.pdf").exists()
    assert (event_dir(rt.settings, "ancient") / "recap-ancient.pdf").is_file()

    # the report holds counts and file names only
    text = report.markdown("purge") + str(report.as_dict())
    for address in ("ayse@", "jonas@", "dmitri@", "olena@", "leyla@", "keine.post@", "Rollstuhl", "Olena"):
        assert address not in text


def test_a_second_run_finds_nothing_to_do(rt: Runtime, ages: dict[str, EventSpec]) -> None:
    retention.purge(rt)
    snapshot = {m.__name__: count(rt, m) for m in (Registration, Person, Invitation, ConsentRecord, SurveyToken)}
    again = retention.purge(rt)
    assert {e.slug: e.stage for e in again.events} == {
        "old-unfunded": "nothing left",
        "old-funded": "nothing left",
        "ancient": "nothing left",
    }
    assert all(n == 0 for e in again.events for n in e.counts.values())
    assert {
        m.__name__: count(rt, m) for m in (Registration, Person, Invitation, ConsentRecord, SurveyToken)
    } == snapshot


def test_the_funder_record_goes_when_its_time_has_come(rt: Runtime, ages: dict[str, EventSpec]) -> None:
    retention.purge(rt)
    later = policy(ages["old-funded"]).funder_until + timedelta(days=1)
    report = retention.purge(rt, later, slug="old-funded")
    assert [(e.slug, e.stage) for e in report.events] == [("old-funded", "funder record")]
    assert report.events[0].counts["attendance_records_deleted"] == 1
    assert count(rt, Registration, Registration.event_id == event_id(rt, "old-funded")) == 0
    assert count(rt, Person, Person.email.like("%@anonymised.invalid")) == 0
    assert not (event_dir(rt.settings, "old-funded") / "attendance-old-funded.pdf").exists()


def test_a_dry_run_changes_nothing(rt: Runtime, ages: dict[str, EventSpec]) -> None:
    before = {m.__name__: count(rt, m) for m in (Registration, Person, Invitation, ConsentRecord, PurgeRecord)}
    report = retention.purge(rt, dry_run=True)
    assert report.dry_run and len(report.events) == 3
    assert report.events[0].counts["registrations_deleted"] >= 1
    assert {m.__name__: count(rt, m) for m in (Registration, Person, Invitation, ConsentRecord, PurgeRecord)} == before
    assert (event_dir(rt.settings, "old-unfunded") / "attendance-old-unfunded.pdf").is_file()


def test_one_event_not_due_is_reported_as_such(rt: Runtime, ages: dict[str, EventSpec]) -> None:
    report = retention.purge(rt, slug="recent")
    assert [(e.slug, e.stage) for e in report.events] == [("recent", "not due")]
    assert count(rt, Registration, Registration.event_id == event_id(rt, "recent")) == 1
