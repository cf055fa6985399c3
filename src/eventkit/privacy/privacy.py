"""Rights of the person (DSGVO Art. 15, 17, 20): everything stored about an address, and its erasure.

The export is JSON-serialisable and complete: the person, invitations, registrations with their answers,
consent records, the emails eventkit wrote to them (what, when, how it went; not the message itself),
survey links (only whether answered: responses are anonymous and cannot be linked to anybody), session
proposals and working-group places. Erasure removes all of it in one transaction, except what a funder's
retention still requires (the name and organisation of a person who attended a funded event, until the
funder retention ends); the report says what was kept and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from eventkit.core.files import event_dir, events_dir
from eventkit.core.tokens import new_nonce
from eventkit.db.store import (
    Checkin,
    ConsentRecord,
    Event,
    Invitation,
    OutboxMessage,
    Person,
    Registration,
    SessionInterest,
    SessionProposal,
    SurveyToken,
    WorkingGroupMember,
)
from eventkit.mail.mime import AddressError, ascii_address
from eventkit.model.retention import policy
from eventkit.privacy import retention
from eventkit.recap.intake import RECAP_FILE
from eventkit.registration.specs import spec_of
from eventkit.runtime import Runtime
from eventkit.series.members import forget_member, memberships

SURVEY_NOTE = (
    "Survey responses are anonymous: they are stored without any reference to a person, a link or a time "
    "of day, so they cannot be found, shown or erased for one person. Only whether a link was used is kept."
)


def normalise(email: str) -> str:
    return email.strip().lower()


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _outbox_filter(person: Person) -> Any:
    try:
        address = ascii_address(person.email)[0]
    except AddressError:
        address = person.email
    return or_(OutboxMessage.person_id == person.id, OutboxMessage.recipient.in_({person.email, address}))


def _find(session: Session, email: str) -> Person | None:
    return session.scalar(select(Person).where(Person.email == normalise(email)))


def export_person(rt: Runtime, email: str) -> dict[str, Any]:
    """Everything eventkit stores about the person with this address, as JSON-ready data."""
    out = _export_from_store(rt, email)
    out["series_memberships"] = memberships(rt.settings, normalise(email))  # the series' standing member lists
    out["found"] = out["found"] or bool(out["series_memberships"])
    return out


def _export_from_store(rt: Runtime, email: str) -> dict[str, Any]:
    with rt.store.session() as session:
        person = _find(session, email)
        out: dict[str, Any] = {
            "email": normalise(email),
            "exported_at": datetime.now(UTC).isoformat(),
            "found": person is not None,
            "person": None,
            "invitations": [],
            "registrations": [],
            "consents": [],
            "emails": [],
            "survey_links": [],
            "survey_note": SURVEY_NOTE,
            "session_proposals": [],
            "session_interest": [],
            "working_groups": [],
            "series_memberships": [],
        }
        if person is None:
            return out
        slugs: dict[int, str] = dict(session.execute(select(Event.id, Event.slug)).tuples().all())
        out["person"] = {
            "email": person.email,
            "name": person.name,
            "organisation": person.organisation,
            "language": person.language,
            "created_at": _iso(person.created_at),
            "updated_at": _iso(person.updated_at),
        }
        out["invitations"] = [
            {
                "event": slugs.get(i.event_id),
                "status": i.status,
                "personal_link_made": i.token_hash is not None,
                "created_at": _iso(i.created_at),
            }
            for i in session.scalars(
                select(Invitation).where(Invitation.person_id == person.id).order_by(Invitation.id)
            )
        ]
        registrations = list(
            session.scalars(select(Registration).where(Registration.person_id == person.id).order_by(Registration.id))
        )
        marks: dict[int, list[dict[str, Any]]] = {}
        for mark in session.scalars(
            select(Checkin)
            .where(Checkin.registration_id.in_([r.id for r in registrations]))
            .order_by(Checkin.registration_id, Checkin.day)
        ):
            marks.setdefault(mark.registration_id, []).append({"day": mark.day.isoformat(), "at": _iso(mark.at)})
        out["registrations"] = [
            {
                "event": slugs.get(r.event_id),
                "status": r.status,
                "source": r.source,
                "answers": dict(r.answers or {}),
                "details_awaiting_confirmation": dict(r.pending) if r.pending else None,
                "created_at": _iso(r.created_at),
                "confirmed_at": _iso(r.confirmed_at),
                "cancelled_at": _iso(r.cancelled_at),
                "checked_in_at": _iso(r.checked_in_at),
                "check_ins": marks.get(r.id, []),
                "expires_at": _iso(r.expires_at),
            }
            for r in registrations
        ]
        out["consents"] = [
            {
                "kind": c.kind,
                "granted": c.granted,
                "version": c.version,
                "event": slugs.get(c.event_id) if c.event_id else None,
                "source": c.source,
                "recorded_at": _iso(c.recorded_at),
            }
            for c in session.scalars(
                select(ConsentRecord)
                .where(ConsentRecord.person_id == person.id)
                .order_by(ConsentRecord.recorded_at, ConsentRecord.id)
            )
        ]
        out["emails"] = [
            {
                "event": slugs.get(m.event_id) if m.event_id else None,
                "kind": m.kind,
                "subject": m.subject,
                "to": m.recipient,
                "status": m.status,
                "attempts": m.attempts,
                "created_at": _iso(m.created_at),
                "sent_at": _iso(m.sent_at),
            }
            for m in session.scalars(select(OutboxMessage).where(_outbox_filter(person)).order_by(OutboxMessage.id))
        ]
        ids = {r.id: slugs.get(r.event_id) for r in registrations}
        if ids:
            out["survey_links"] = [
                {"event": slugs.get(t.event_id), "answered": t.answered, "created_at": _iso(t.created_at)}
                for t in session.scalars(select(SurveyToken).where(SurveyToken.registration_id.in_(ids)))
            ]
            out["session_proposals"] = [
                {
                    "event": slugs.get(p.event_id),
                    "title": p.title,
                    "description": p.description,
                    "status": p.status,
                    "notes": p.notes,
                    "created_at": _iso(p.created_at),
                }
                for p in session.scalars(
                    select(SessionProposal).where(SessionProposal.event_id.in_({r.event_id for r in registrations}))
                )
                if p.from_registration_id in ids or any(h in ids for h in p.hosts or [])
            ]
            out["session_interest"] = [
                {"event": ids.get(i.registration_id), "session": title, "created_at": _iso(i.created_at)}
                for i, title in session.execute(
                    select(SessionInterest, SessionProposal.title)
                    .join(SessionProposal, SessionProposal.id == SessionInterest.proposal_id)
                    .where(SessionInterest.registration_id.in_(ids))
                )
            ]
            out["working_groups"] = [
                {"event": slugs.get(w.event_id), "group": w.group_name, "choice_rank": w.rank}
                for w in session.scalars(select(WorkingGroupMember).where(WorkingGroupMember.registration_id.in_(ids)))
            ]
        return out


@dataclass
class ForgetReport:
    """What an erasure did: counts, what was kept and why. Names no personal data except the address asked
    about (which the operator typed)."""

    email: str
    found: bool
    person: str = "not found"  # deleted, anonymised (kept for a funder record), not found
    counts: dict[str, int] = field(default_factory=dict)
    kept: list[dict[str, str]] = field(default_factory=list)  # {event, what, until, why}
    files_to_check: list[str] = field(default_factory=list)
    series: list[str] = field(default_factory=list)  # series whose member list they were taken off

    def as_dict(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "found": self.found,
            "person": self.person,
            "counts": dict(self.counts),
            "kept": list(self.kept),
            "files_to_check": list(self.files_to_check),
            "series": list(self.series),
        }


def forget_person(rt: Runtime, email: str, *, now: datetime | None = None) -> ForgetReport:
    """Erase the person with this address everywhere, in one transaction; a second run finds nothing."""
    now = now or datetime.now(UTC)
    address = normalise(email)
    report = ForgetReport(address, False)
    report.series = forget_member(rt.settings, address)  # the series' standing member lists
    report.found = bool(report.series)
    if report.series:
        report.counts["series_memberships_removed"] = len(report.series)
    attended: list[tuple[str, bool]] = []  # (slug, kept as funder record)
    with rt.store.session(write_lock=True) as session:
        person = _find(session, address)
        if person is None:
            return report
        report.found = True
        counts = report.counts
        counts["emails_blanked"] = retention.blank_outbox(
            session, _outbox_filter(person), "erased at the person's request before sending", "erased"
        )
        registrations = list(session.scalars(select(Registration).where(Registration.person_id == person.id)))
        gone: set[int] = set()
        kept = 0
        for registration in registrations:
            event = session.get(Event, registration.event_id)
            assert event is not None
            rules = policy(spec_of(rt, event))
            if registration.checked_in_at is not None:
                attended.append((event.slug, retention.funder_record(registration, rules.keeps_attendance(now))))
            if retention.funder_record(registration, rules.keeps_attendance(now)):
                registration.answers = {}
                registration.pending = None
                registration.token_nonce = new_nonce()
                kept += 1
                report.kept.append(
                    {
                        "event": event.slug,
                        "what": "name and organisation on the attendance record",
                        "until": rules.funder_until.date().isoformat(),
                        "why": "the event is funded; the funder requires the attendance record to be kept",
                    }
                )
            else:
                if registration.status in ("registered", "waitlisted") and now < event.ends_at:
                    counts["active_registrations_removed"] = counts.get("active_registrations_removed", 0) + 1
                gone.add(registration.id)
        counts["survey_links_deleted"] = retention.count_rows(
            session, delete(SurveyToken).where(SurveyToken.registration_id.in_(gone))
        )
        counts["session_links_removed"] = retention.unlink_sessions(session, None, gone, {person.name})
        for registration in registrations:
            if registration.id in gone:
                session.delete(registration)
        counts["registrations_deleted"] = len(gone)
        counts["registrations_kept_for_funder"] = kept
        counts["invitations_deleted"] = retention.count_rows(
            session, delete(Invitation).where(Invitation.person_id == person.id)
        )
        counts["consents_deleted"] = retention.count_rows(
            session, delete(ConsentRecord).where(ConsentRecord.person_id == person.id)
        )
        if kept:
            person.email = retention.anonymous_address(person.id)
            report.person = "anonymised: address removed, name and organisation kept for the funder record"
        else:
            session.delete(person)
            report.person = "deleted"
    # files after the commit: the recap input names recognisable people by address
    photos = 0
    for folder in events_dir(rt.settings).glob("*/"):
        photos += retention.scrub_recap_input(folder / RECAP_FILE, {address})
    counts["recap_photos_unnamed"] = photos
    for slug, for_funder in attended:
        path = event_dir(rt.settings, slug) / f"attendance-{slug}.pdf"
        if path.is_file() and not for_funder:
            report.files_to_check.append(str(path))
    return report
