"""Consent records: what a person agreed to or withdrew, when and through which form; unsubscribing too.

Records are only ever added: the newest record of a kind is the person's current choice, the older ones
prove what held before. A record is written only when the choice changes, so that saving a form twice
leaves one record.

Two different grounds let the organisers invite someone again, and their records are kept apart:
`future_invitations` is consent (Art. 6(1)(a) GDPR), given on the personal page, and only a record that
grants it counts as given; `organiser_list` is the organisers' own list of their network (legitimate
interest, Art. 6(1)(f)), which needs no consent but yields to an objection: unsubscribing (RFC 8058) records
`organiser_list` as withdrawn (and withdraws a consent the person had given). Campaigns skip whoever's
newest word on invitations, of either kind, is a no (`unsubscribed_ids`); `invitation_standing` tells
consent from the list's mere permission, for an address book that adds registered people only with consent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from eventkit.core.errors import N_, UserError
from eventkit.core.settings import Settings
from eventkit.core.tokens import signed_token, token_subject, verify_signed
from eventkit.db.store import ConsentRecord, Event, Person, Registration
from eventkit.model.sections import MAX_NOTICE_VERSION
from eventkit.model.spec import EventSpec
from eventkit.runtime import Runtime

PRIVACY_NOTICE = "privacy_notice"
PHOTOS = "photos"
LIST_ORGANISATION = "list_organisation"
FUTURE_INVITATIONS = "future_invitations"  # consent to invitations to the organisers' future events
ORGANISER_LIST = "organiser_list"  # not a consent: only its withdrawal (an unsubscribe, an objection) is recorded
CONSENTS = (PRIVACY_NOTICE, PHOTOS, LIST_ORGANISATION, FUTURE_INVITATIONS)
KINDS = (*CONSENTS, ORGANISER_LIST)
# the kinds whose newest record is a person's word on being invited again
INVITATION_KINDS = (FUTURE_INVITATIONS, ORGANISER_LIST)
# registration answers that are consents (format.yaml's checkboxes), and the kind each one records
ANSWER_KINDS = {"photo_consent": PHOTOS, "list_organisation": LIST_ORGANISATION}
DEFAULT_NOTICE_VERSION = "1"
MAX_VERSION = MAX_NOTICE_VERSION


class InvalidUnsubscribeLink(LookupError, UserError):
    """An unsubscribe link that matches nobody (mistyped, altered, made for another purpose, or erased)."""

    message = N_(
        "This unsubscribe link is not valid. Please use the link from your most recent invitation exactly "
        "as it is written there, or write to the organisers."
    )
    status = 404


def notice_version(spec: EventSpec) -> str:
    """The version of the event's privacy notice people agree to (spec key privacy_notice_version)."""
    value = spec.extra.get("privacy_notice_version")
    return str(value)[:MAX_VERSION] if value not in (None, "") else DEFAULT_NOTICE_VERSION


def _records(session: Session, person_id: int, event_id: int | None) -> list[ConsentRecord]:
    """The person's records about this event and those about no event, in the order they were written
    (records are only added, so the last of a kind holds, whatever time a caller gave it)."""
    where: Any = ConsentRecord.event_id.is_(None)
    if event_id is not None:
        where = where | (ConsentRecord.event_id == event_id)
    return list(
        session.scalars(
            select(ConsentRecord).where(ConsentRecord.person_id == person_id, where).order_by(ConsentRecord.id)
        )
    )


def current(session: Session, person_id: int, event_id: int | None) -> dict[str, ConsentRecord]:
    """The newest record of each kind: the choice that holds now."""
    return {r.kind: r for r in _records(session, person_id, event_id)}


def record(
    session: Session,
    person_id: int,
    event_id: int | None,
    kind: str,
    granted: bool,
    source: str,
    *,
    version: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Add a record when the choice differs from the one that holds (or none does); True when written."""
    if kind not in KINDS:
        raise ValueError(f"unknown consent kind {kind!r}")
    scope = scope_of(kind, event_id)
    if holds(current(session, person_id, scope).get(kind), scope, granted, version):
        return False
    session.add(
        ConsentRecord(
            person_id=person_id,
            event_id=scope,
            kind=kind,
            granted=granted,
            version=version,
            source=source,
            recorded_at=now or datetime.now(UTC),
        )
    )
    session.flush()
    return True


def record_registration(
    session: Session,
    event: Event,
    spec: EventSpec,
    person: Person,
    answers: Mapping[str, Any],
    source: str,
    *,
    notice: bool = True,
    now: datetime | None = None,
) -> int:
    """The consents a registration form carries: the privacy notice (when the form asked for it) and the
    answers that are consents. Returns how many records were written."""
    written = 0
    for kind, granted, version in registration_choices(spec, answers, notice=notice):
        written += record(session, person.id, event.id, kind, granted, source, version=version, now=now)
    return written


def registration_choices(
    spec: EventSpec, answers: Mapping[str, Any], *, notice: bool = True
) -> list[tuple[str, bool, str | None]]:
    """The choices (kind, granted, version) a registration form carries: the privacy notice (when the form
    asked for it) and the answers that are consents."""
    choices: list[tuple[str, bool, str | None]] = [(PRIVACY_NOTICE, True, notice_version(spec))] if notice else []
    choices += [(kind, answers.get(field) is True, None) for field, kind in ANSWER_KINDS.items() if field in answers]
    return choices


def scope_of(kind: str, event_id: int | None) -> int | None:
    """The event a record of this kind is about: none for invitations, which are about all of them."""
    return None if kind in INVITATION_KINDS else event_id


def holds(held: Any, scope: int | None, granted: bool, version: str | None) -> bool:
    """Whether `held` (the newest record of the kind, or None) already says this choice, so that a new
    record would repeat it."""
    return held is not None and held.event_id == scope and held.granted == granted and held.version == version


@dataclass(frozen=True)
class Entry:
    """One record as the attendee's page and the export show it."""

    kind: str
    granted: bool
    version: str | None
    source: str
    recorded_at: datetime
    event: str | None  # the event's slug; None for what is not about one event


def overview(rt: Runtime, registration_id: int) -> dict[str, Any]:
    """For the attendee's page: what holds now (kind -> granted), the history (newest first), whether the
    person said no to invitations, and their unsubscribe link."""
    with rt.store.session() as session:
        registration = session.get(Registration, registration_id)
        if registration is None:
            return {"current": {}, "history": [], "refused": False, "unsubscribe": None}
        person = registration.person
        slugs = {registration.event_id: session.scalar(select(Event.slug).where(Event.id == registration.event_id))}
        rows = _records(session, registration.person_id, registration.event_id)
        refused = person.id in unsubscribed_ids(session, [person.id])
        link = unsubscribe_url(rt.settings, person.id, person.email)
    history = [
        Entry(r.kind, r.granted, r.version, r.source, r.recorded_at, slugs.get(r.event_id) if r.event_id else None)
        for r in rows
    ]
    now = {e.kind: e.granted for e in history}
    return {"current": now, "history": list(reversed(history)), "refused": refused, "unsubscribe": link}


def invitation_standing(session: Session, person_ids: Iterable[int]) -> dict[int, bool]:
    """Each person's newest word on being invited again, of either kind: True for a consent to future
    invitations, False for a no (an unsubscribe, or a withdrawn consent); people who never said anything
    are left out, and only the organisers' own list may invite them."""
    ids = list(person_ids)
    latest: dict[int, bool] = {}
    for start in range(0, len(ids), 500):
        for person_id, granted in session.execute(
            select(ConsentRecord.person_id, ConsentRecord.granted)
            .where(ConsentRecord.person_id.in_(ids[start : start + 500]), ConsentRecord.kind.in_(INVITATION_KINDS))
            .order_by(ConsentRecord.id)
        ):
            latest[person_id] = granted
    return latest


def unsubscribed_ids(session: Session, person_ids: Iterable[int]) -> set[int]:
    """Those of the people whose newest word on invitations is a no: no campaign invites them, whatever list
    they are on (a withdrawn consent counts as a no as well: it says as much)."""
    return {pid for pid, granted in invitation_standing(session, person_ids).items() if not granted}


def consented_ids(session: Session, person_ids: Iterable[int]) -> set[int]:
    """Those of the people who consented to future invitations and have not said no since."""
    return {pid for pid, granted in invitation_standing(session, person_ids).items() if granted}


# --- unsubscribe ------------------------------------------------------------------------------------------


def unsubscribe_token(settings: Settings, person_id: int, email: str) -> str:
    """A signed link token for purpose 'unsubscribe', bound to the person and their address: nothing is
    stored, and an erased or anonymised person's links stop working (their address is gone)."""
    return signed_token(settings.secret_key, "unsubscribe", person_id, email)


def unsubscribe_url(settings: Settings, person_id: int, email: str) -> str:
    return f"{settings.base_url}/u/{unsubscribe_token(settings, person_id, email)}"


def unsubscribe_headers(settings: Settings, person_id: int, email: str, contact: str) -> list[tuple[str, str]]:
    """List-Unsubscribe (RFC 2369) with the one-click HTTPS link first and a mailto to the organiser, and
    List-Unsubscribe-Post (RFC 8058). The headers are written by eventkit.mail.mime, which lets no CR/LF in."""
    mailto = f"mailto:{quote(contact, safe='@')}?subject=unsubscribe"
    return [
        ("List-Unsubscribe", f"<{unsubscribe_url(settings, person_id, email)}>, <{mailto}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ]


def _person_by_token(session: Session, settings: Settings, token: str) -> Person:
    subject = token_subject(token or "")
    person = session.get(Person, subject) if subject is not None else None
    if person is None or not verify_signed(settings.secret_key, "unsubscribe", token, person.id, person.email):
        raise InvalidUnsubscribeLink(token[:12])
    return person


@dataclass(frozen=True)
class Subscription:
    person_id: int
    name: str
    language: str
    unsubscribed: bool


def peek_unsubscribe(rt: Runtime, token: str) -> Subscription:
    """Who an unsubscribe link is for and whether they are unsubscribed already (read only)."""
    with rt.store.session() as session:
        person = _person_by_token(session, rt.settings, token)
        return Subscription(
            person.id, person.name, person.language, person.id in unsubscribed_ids(session, [person.id])
        )


def unsubscribe(rt: Runtime, token: str, *, source: str = "unsubscribe-link", now: datetime | None = None) -> bool:
    """Take the link's person off the organisers' list, and withdraw their consent to future invitations if
    they had given it; False when they were unsubscribed already."""
    with rt.store.session() as session:
        person = _person_by_token(session, rt.settings, token)
        written = record(session, person.id, None, ORGANISER_LIST, False, source, now=now)
        consent = current(session, person.id, None).get(FUTURE_INVITATIONS)
        if consent is not None and consent.granted:
            record(session, person.id, None, FUTURE_INVITATIONS, False, source, now=now)
        return written


def set_choices(
    rt: Runtime, registration_id: int, choices: Mapping[str, bool], source: str, *, now: datetime | None = None
) -> int:
    """Change consents from the attendee's page (kinds of CONSENTS except the privacy notice); the answers the
    registration keeps for photos and naming follow, so that the recap sees the same choice. A box left
    unticked that no record ever granted records nothing: not choosing is not a withdrawal."""
    with rt.store.session() as session:
        registration = session.get(Registration, registration_id)
        if registration is None:
            raise LookupError(registration_id)
        written = 0
        answers = dict(registration.answers or {})
        held = current(session, registration.person_id, registration.event_id)
        for kind, granted in choices.items():
            if kind == PRIVACY_NOTICE or kind not in CONSENTS:
                raise ValueError(f"{kind!r} cannot be changed here")
            if not granted and kind not in held:
                continue
            written += record(session, registration.person_id, registration.event_id, kind, granted, source, now=now)
            field = next((f for f, k in ANSWER_KINDS.items() if k == kind), None)
            if field is not None:
                answers[field] = granted
        registration.answers = answers
        return written


def kinds_of(fields: Sequence[Any]) -> list[str]:
    """The consent kinds an event's form asks for (its consent checkboxes), then future invitations."""
    names = {f.name for f in fields}
    return [kind for field, kind in ANSWER_KINDS.items() if field in names] + [FUTURE_INVITATIONS]
