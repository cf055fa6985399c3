"""Retention: personal data of an event goes some months after it ends; what funders require, years later.

Per event (spec keys `retention_months`, default 6, and `funder_retention_years`, default 10, counted from
the event's end). When the first period has passed, the purge counts the figures that stay (registrations
per status, attendance, organisations, survey participation, emails sent), then deletes the registrations,
their answers (support needs, food, free text), the invitations, the survey links, the consent records
and the content of the event's emails; people nobody needs any more are deleted. For a funded event the
attendance record stays until the second period ends (the name and organisation of each person who
attended, and attendance-<slug>.pdf); the person's address and everything else goes. The recap PDF, the
anonymous survey responses and the figures stay. Each event is purged in one transaction; a second run
finds nothing left to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from eventkit.consent import consents
from eventkit.core.files import event_dir, write_atomic
from eventkit.core.tokens import new_nonce
from eventkit.db.store import (
    Checkin,
    ConsentRecord,
    Event,
    Invitation,
    OutboxMessage,
    Person,
    PurgeRecord,
    Registration,
    SessionPlan,
    SessionProposal,
    SurveyToken,
)
from eventkit.events.events import find_event
from eventkit.model.retention import Policy, policy
from eventkit.recap.intake import RECAP_FILE
from eventkit.registration.specs import spec_of
from eventkit.runtime import Runtime
from eventkit.series.members import purge_members

SPEC_KEYS = ("privacy_notice_version", "retention_months", "funder_retention_years")
ANONYMOUS_DOMAIN = "anonymised.invalid"  # RFC 2606: never deliverable


def funder_record(registration: Registration, keep: bool) -> bool:
    """A registration that is part of a funder's attendance record: a place taken and checked in."""
    return keep and registration.status == "registered" and registration.checked_in_at is not None


def anonymous_address(person_id: int) -> str:
    return f"person-{person_id}@{ANONYMOUS_DOMAIN}"


def is_anonymous(email: str) -> bool:
    return email.endswith("@" + ANONYMOUS_DOMAIN)


# --- the pieces of a purge, shared with eventkit.privacy.privacy's erasure ----------------------------------------


def count_rows(session: Session, statement: Any) -> int:
    """Run a DELETE or UPDATE and answer how many rows it touched."""
    return int(getattr(session.execute(statement), "rowcount", 0) or 0)


def blank_outbox(session: Session, where: Any, reason: str, marker: str) -> int:
    """Remove the content of the emails matched by `where` (the message, its parameters, recipient, subject,
    the server's answer) and their link to a person; their kind, status and dates stay for the figures.
    Emails not sent yet will not be: they are marked failed. Returns how many emails were blanked."""
    rows = session.execute(
        select(OutboxMessage.id, OutboxMessage.status).where(where, OutboxMessage.recipient != "")
    ).all()
    values = [
        {
            "id": outbox_id,
            "raw": None,
            "params": None,
            "recipient": "",
            "subject": "",
            "last_error": reason if status in ("pending", "retry", "sending") else None,
            "status": "failed" if status in ("pending", "retry", "sending") else status,
            "person_id": None,
            "registration_id": None,
            # the key named the person (event:person:kind:...), and a new person could get that id again
            "idempotency_key": f"{marker}:{outbox_id}",
        }
        for outbox_id, status in rows
    ]
    for start in range(0, len(values), 500):
        session.execute(update(OutboxMessage), values[start : start + 500])
    return len(values)


def unlink_sessions(session: Session, event_id: int | None, registration_ids: set[int], names: set[str]) -> int:
    """Take registrations out of session proposals (as hosts) and published plans (their names); returns how
    many proposals or plan entries changed. Titles and descriptions are the programme and stay."""
    if not registration_ids and not names:
        return 0
    changed = 0
    query = select(SessionProposal)
    if event_id is not None:
        query = query.where(SessionProposal.event_id == event_id)
    hosted: set[int] = set()
    for proposal in session.scalars(query):
        hosts = [h for h in proposal.hosts or [] if h not in registration_ids]
        if hosts != list(proposal.hosts or []) or proposal.from_registration_id in registration_ids:
            hosted.add(proposal.id)
            proposal.hosts = hosts
            proposal.from_registration_id = None
            changed += 1
    plans = select(SessionPlan)
    if event_id is not None:
        plans = plans.where(SessionPlan.event_id == event_id)
    for plan in session.scalars(plans):
        content = dict(plan.content or {})
        entries = []
        touched = False
        for entry in content.get("entries") or []:
            if isinstance(entry, dict) and entry.get("id") in hosted and entry.get("hosts"):
                kept = [h for h in entry["hosts"] if h not in names] if names else []
                if kept != entry["hosts"]:
                    entry = {**entry, "hosts": kept}
                    touched = True
            entries.append(entry)
        if touched:
            plan.content = {**content, "entries": entries}
            changed += 1
    return changed


def scrub_recap_input(path: Path, emails: set[str] | None) -> int:
    """Take the addresses of recognisable people out of a stored recap input (all of them for None). A photo
    that named someone is marked not usable: without the consent records, nobody can check it any more.
    Returns how many photos changed."""
    if not path.is_file():
        return 0
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return 0
    if not isinstance(data, dict) or not isinstance(data.get("photos"), list):
        return 0
    changed = 0
    for photo in data["photos"]:
        if not isinstance(photo, dict) or not photo.get("people"):
            continue
        people = [p for p in photo["people"] if emails is not None and str(p).lower() not in emails]
        if people != photo["people"]:
            photo["people"] = people
            photo["usable"] = False
            changed += 1
    if changed:
        write_atomic(path, yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100).encode("utf-8"))
    return changed


# --- the purge --------------------------------------------------------------------------------------------


@dataclass
class EventPurge:
    """What the purge did to one event: counts and file names, no personal data."""

    slug: str
    personal_due: date
    funder_due: date | None  # None: not funded, nothing kept beyond the first period
    stage: str = "not due"  # not due, personal data, funder record, nothing left
    counts: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "stage": self.stage,
            "personal_due": self.personal_due.isoformat(),
            "funder_due": self.funder_due.isoformat() if self.funder_due else None,
            "counts": dict(self.counts),
            "files": list(self.files),
        }


@dataclass
class PurgeReport:
    now: datetime
    dry_run: bool = False
    events: list[EventPurge] = field(default_factory=list)
    not_due: int = 0
    series_members_purged: list[str] = field(default_factory=list)  # series whose member list was emptied

    @property
    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.events:
            for key, n in e.counts.items():
                out[key] = out.get(key, 0) + n
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "dry_run": self.dry_run,
            "events": [e.as_dict() for e in self.events],
            "not_due": self.not_due,
            "totals": self.totals,
            "series_members_purged": list(self.series_members_purged),
        }

    def markdown(self, title: str) -> str:
        lines = [f"# {title}", ""]
        if self.dry_run:
            lines += ["Dry run: nothing was changed.", ""]
        lines += [f"{len(self.events)} event(s) purged or checked, {self.not_due} not due yet.", ""]
        if self.series_members_purged:
            lines += ["Member lists emptied: " + ", ".join(f"`{s}`" for s in self.series_members_purged), ""]
        if self.events:
            keys = sorted({k for e in self.events for k in e.counts})
            lines += [
                "| event | stage | personal data until | funder record until | " + " | ".join(keys) + " |",
                "|---|---|---|---|" + "---:|" * len(keys),
            ]
            for e in self.events:
                funder = e.funder_due.isoformat() if e.funder_due else "–"
                counts = " | ".join(str(e.counts.get(k, 0)) for k in keys)
                lines.append(f"| {e.slug} | {e.stage} | {e.personal_due.isoformat()} | {funder} | {counts} |")
            files = [(e.slug, f) for e in self.events for f in e.files]
            if files:
                lines += ["", "Files removed:", ""] + [f"- `{slug}/{name}`" for slug, name in files]
        return "\n".join(lines) + "\n"


class _DryRun(Exception):
    pass


def figures(session: Session, event_id: int) -> dict[str, Any]:
    """The aggregate figures that outlive the personal data (counted from the store as it is)."""
    statuses: dict[str, int] = dict(
        session.execute(
            select(Registration.status, func.count())
            .where(Registration.event_id == event_id)
            .group_by(Registration.status)
        )
        .tuples()
        .all()
    )
    attended = session.scalar(
        select(func.count()).where(Registration.event_id == event_id, Registration.checked_in_at.is_not(None))
    )
    # a multi-day event's attendance per day (funders count participant days); one day's for the others
    per_day = session.execute(
        select(Checkin.day, func.count())
        .join(Registration, Registration.id == Checkin.registration_id)
        .where(Registration.event_id == event_id)
        .group_by(Checkin.day)
        .order_by(Checkin.day)
    ).all()
    organisations = session.scalars(
        select(Person.organisation)
        .join(Registration, Registration.person_id == Person.id)
        .where(Registration.event_id == event_id, Registration.status == "registered")
    ).all()
    distinct_orgs = {" ".join(o.casefold().split()) for o in organisations if o and o.strip()}
    invited = session.scalar(select(func.count()).where(Invitation.event_id == event_id))
    survey: dict[bool, int] = dict(
        session.execute(
            select(SurveyToken.answered, func.count())
            .where(SurveyToken.event_id == event_id)
            .group_by(SurveyToken.answered)
        )
        .tuples()
        .all()
    )
    sent: dict[str, int] = dict(
        session.execute(
            select(OutboxMessage.kind, func.count())
            .where(OutboxMessage.event_id == event_id, OutboxMessage.status == "sent")
            .group_by(OutboxMessage.kind)
        )
        .tuples()
        .all()
    )
    return {
        "registrations": {str(k): int(v) for k, v in statuses.items()},
        "invited": int(invited or 0),
        "attended": int(attended or 0),
        "attended_per_day": {day.isoformat(): int(n) for day, n in per_day},
        "organisations": len(distinct_orgs),
        "survey_invited": int(sum(survey.values())),
        "survey_answered": int(survey.get(True, 0)),
        "emails_sent": {str(k): int(v) for k, v in sent.items()},
    }


def _settle_people(session: Session, person_ids: set[int], counts: dict[str, int]) -> None:
    """People the purge touched: still needed for an event whose data is kept, they stay as they are; kept
    only by a funder record, they keep name and organisation and lose their address; kept by nothing but
    their unsubscribe, they stay as an address on the do-not-invite list; else they are deleted."""
    purged = select(PurgeRecord.event_id).where(PurgeRecord.personal_purged_at.is_not(None))
    for person_id in sorted(person_ids):
        person = session.get(Person, person_id)
        if person is None:
            continue
        live = (
            session.scalar(
                select(func.count()).where(Registration.person_id == person_id, Registration.event_id.not_in(purged))
            )
            or 0
        ) + (
            session.scalar(
                select(func.count()).where(Invitation.person_id == person_id, Invitation.event_id.not_in(purged))
            )
            or 0
        )
        if live:
            continue
        kept = session.scalar(select(func.count()).where(Registration.person_id == person_id)) or 0
        if kept:
            if not is_anonymous(person.email):
                session.execute(delete(ConsentRecord).where(ConsentRecord.person_id == person_id))
                person.email = anonymous_address(person_id)
                counts["people_anonymised"] = counts.get("people_anonymised", 0) + 1
            continue
        if person_id in consents.unsubscribed_ids(session, [person_id]):
            if person.name or person.organisation:
                person.name, person.organisation = "", None
                counts["people_kept_unsubscribed"] = counts.get("people_kept_unsubscribed", 0) + 1
            continue
        session.delete(person)
        counts["people_deleted"] = counts.get("people_deleted", 0) + 1
    session.flush()


def _purge_personal(session: Session, event: Event, rules: Policy, now: datetime, counts: dict[str, int]) -> set[int]:
    """Delete the event's personal data (keeping a funded event's attendance record); returns the people
    it touched."""
    keep = rules.keeps_attendance(now)
    registrations = list(session.scalars(select(Registration).where(Registration.event_id == event.id)))
    people = {r.person_id for r in registrations}
    people |= set(session.scalars(select(Invitation.person_id).where(Invitation.event_id == event.id)))
    people |= set(session.scalars(select(ConsentRecord.person_id).where(ConsentRecord.event_id == event.id)))
    counts["survey_tokens_deleted"] = count_rows(session, delete(SurveyToken).where(SurveyToken.event_id == event.id))
    gone = {r.id for r in registrations if not funder_record(r, keep)}
    counts["session_links_removed"] = unlink_sessions(session, event.id, gone, set())
    for registration in registrations:
        if registration.id in gone:
            session.delete(registration)
        else:
            registration.answers = {}
            registration.pending = None
            registration.token_nonce = new_nonce()  # the personal links stop working
    counts["registrations_deleted"] = len(gone)
    counts["registrations_kept_for_funder"] = len(registrations) - len(gone)
    counts["invitations_deleted"] = count_rows(session, delete(Invitation).where(Invitation.event_id == event.id))
    counts["consents_deleted"] = count_rows(session, delete(ConsentRecord).where(ConsentRecord.event_id == event.id))
    counts["emails_blanked"] = blank_outbox(
        session, OutboxMessage.event_id == event.id, "personal data purged before sending", "purged"
    )
    session.flush()
    return people


def _purge_funder(session: Session, event: Event, counts: dict[str, int]) -> set[int]:
    """The funder retention has passed: the attendance record goes too."""
    registrations = list(session.scalars(select(Registration).where(Registration.event_id == event.id)))
    for registration in registrations:
        session.delete(registration)
    session.flush()
    counts["attendance_records_deleted"] = counts.get("attendance_records_deleted", 0) + len(registrations)
    return {r.person_id for r in registrations}


def _files(rt: Runtime, slug: str, *, personal: bool, funder: bool, funded: bool) -> list[Path]:
    folder = event_dir(rt.settings, slug)
    out = []
    if personal:
        out.append(folder / f"attendance-{slug}-blank.pdf")  # everyone registered, not a funder record
        if not funded:
            out.append(folder / f"attendance-{slug}.pdf")
    if funder:
        out.append(folder / f"attendance-{slug}.pdf")
    return [p for p in dict.fromkeys(out) if p.is_file()]


def purge(rt: Runtime, now: datetime | None = None, *, slug: str | None = None, dry_run: bool = False) -> PurgeReport:
    """Purge every event whose retention has passed (or only `slug`); see the module's docstring."""
    now = now or datetime.now(UTC)
    report = PurgeReport(now, dry_run)
    with rt.store.session() as session:
        query = select(Event.id).order_by(Event.ends_at, Event.id)
        if slug is not None:
            query = query.where(Event.id == find_event(session, slug).id)
        events = list(session.scalars(query))
    for event_id in events:
        entry = _purge_event(rt, event_id, now, dry_run)
        if entry.stage == "not due" and slug is None:
            report.not_due += 1
            continue
        report.events.append(entry)
    if slug is None:  # the series' member lists, once their last meeting is as long past as their retention
        report.series_members_purged = purge_members(rt.settings, now, dry_run=dry_run)
    return report


def _purge_event(rt: Runtime, event_id: int, now: datetime, dry_run: bool) -> EventPurge:
    entry: EventPurge | None = None
    files: list[Path] = []
    recap_input: Path | None = None
    try:
        with rt.store.session(write_lock=True) as session:
            event = session.get(Event, event_id)
            assert event is not None
            rules = policy(spec_of(rt, event))
            entry = EventPurge(
                event.slug, rules.personal_until.date(), rules.funder_until.date() if rules.funded else None
            )
            if now < rules.personal_until:
                return entry
            done = session.scalar(select(PurgeRecord).where(PurgeRecord.event_id == event.id))
            if done is None:
                # counted once, before anything goes: these figures are what stays of the event
                done = PurgeRecord(event_id=event.id, figures=figures(session, event.id))
                session.add(done)
            people: set[int] = set()
            stages = []
            personal = funder = False
            if done.personal_purged_at is None:
                people |= _purge_personal(session, event, rules, now, entry.counts)
                done.personal_purged_at = now
                stages.append("personal data")
                personal = True
            if done.funder_purged_at is None and not rules.keeps_attendance(now):
                people |= _purge_funder(session, event, entry.counts)
                done.funder_purged_at = now
                if rules.funded:
                    stages.append("funder record")
                    funder = True
            entry.stage = ", ".join(stages) or "nothing left"
            session.flush()
            _settle_people(session, people, entry.counts)
            files = _files(rt, event.slug, personal=personal, funder=funder, funded=rules.funded)
            entry.files = [p.name for p in files]
            if personal and (event_dir(rt.settings, event.slug) / RECAP_FILE).is_file():
                recap_input = event_dir(rt.settings, event.slug) / RECAP_FILE
            if dry_run:
                raise _DryRun
    except _DryRun:
        assert entry is not None
        return entry
    assert entry is not None
    # files after the commit: a deleted file cannot be rolled back, and a rerun removes what is left
    for path in files:
        path.unlink(missing_ok=True)
    if recap_input is not None:
        entry.counts["recap_photos_unnamed"] = scrub_recap_input(recap_input, None)
    return entry
