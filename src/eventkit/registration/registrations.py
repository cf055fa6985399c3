"""Registrations: a place while there is one, the waiting list after that, promotion when a place frees.

Every change is one transaction that also puts its email into the outbox, so that a registration never
exists without its confirmation being on its way (and an email never without its registration). A person
invited by a personal link has a place at once; anyone else confirms their address first (double opt-in)
and counts only then. No more people are ever registered than the event has places: on PostgreSQL the
event row is locked (SELECT ... FOR UPDATE), on SQLite the write lock is taken at the start.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, delete, func, insert, select
from sqlalchemy import update as sql_update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row as SqlRow
from sqlalchemy.orm import Session

from eventkit.consent import consents
from eventkit.core.errors import N_, UserError
from eventkit.core.tokens import new_nonce, signed_token, token_hash, token_subject, verify_signed
from eventkit.db.store import Checkin, ConsentRecord, Event, Invitation, Person, Registration, utcnow
from eventkit.events.events import EventNotFound, find_event, format_for
from eventkit.mail import delivery, outbox
from eventkit.model.registration_form import RegistrationInput, form_fields
from eventkit.model.slug import is_slug
from eventkit.model.spec import EventSpec
from eventkit.registration import emails, waitlist
from eventkit.registration.batch import Desk
from eventkit.runtime import Runtime, Slot

ACTIVE = ("registered", "waitlisted")
OPTIN_VALID = timedelta(hours=48)  # an unconfirmed public request lapses after this


class RegistrationClosed(UserError):
    """The deadline has passed or the event was cancelled."""

    message = N_("Registration for this event is closed.")
    status = 409

    def __init__(self, slug: str):
        Exception.__init__(self, slug)  # the slug, as it always was; the message is the class's


class InvalidLink(LookupError, UserError):
    """A personal link that does not match any registration (mistyped, revoked, or for another purpose)."""

    message = N_(
        "This personal link is not valid (any more). Please use the link from your most recent email, "
        "or register again on the event page."
    )
    status = 404


@dataclass(frozen=True)
class Outcome:
    registration_id: int
    person_id: int
    status: str  # pending, registered, waitlisted, cancelled, expired
    created: bool  # False: nothing changed (already registered, or a repeated click)
    position: int | None = None  # on the waiting list, counted from 1
    manage_token: str | None = None  # for the page that shows the outcome; None when nothing changed
    promoted: int | None = None  # the registration that got a freed place


class SpecChanged(Exception):
    """The event changed after its spec was read for checking the input: check the input again."""


def _locked_event(session: Session, slug: str) -> Event:
    # one registration change of an event at a time: FOR UPDATE on PostgreSQL, the write lock on SQLite
    return find_event(session, slug, lock=True)


def is_closed(event: Event, spec: EventSpec, now: datetime) -> bool:
    return _closed(event.status, spec, now)


def _closed(status: str, spec: EventSpec, now: datetime) -> bool:
    if status == "cancelled" or now >= spec.end:
        return True
    return spec.registration_deadline is not None and now > spec.registration_deadline


# A new registration is a few Core statements, made once here: through the ORM (objects, flushes, statements
# built on every call) the same work cost several milliseconds of CPU per request, under the event's lock.
_EVENTS = cast(Table, Event.__table__)
_PEOPLE = cast(Table, Person.__table__)
_INVITATIONS = cast(Table, Invitation.__table__)
_REGISTRATIONS = cast(Table, Registration.__table__)
_CONSENTS = cast(Table, ConsentRecord.__table__)


_PLACES = (
    select(_REGISTRATIONS.c.status, func.count())
    .where(_REGISTRATIONS.c.event_id == bindparam("event_id"), _REGISTRATIONS.c.status.in_(ACTIVE))
    .group_by(_REGISTRATIONS.c.status)
)


class _Places:
    """The places taken and the length of the waiting list while a batch is written (the event is locked):
    counted once, then kept up to date by the batch, instead of two counts for every registration."""

    def __init__(self, connection: Connection, event_id: int):
        self._connection, self._event_id = connection, event_id
        self._counts: dict[str, int] | None = None

    def count(self, status: str) -> int:
        if self._counts is None:
            rows = self._connection.execute(_PLACES, {"event_id": self._event_id})
            self._counts = {status: int(n) for status, n in rows}
        return self._counts.get(status, 0)

    def add(self, status: str) -> None:
        n = self.count(status)
        assert self._counts is not None
        self._counts[status] = n + 1

    def forget(self) -> None:
        """Counted again when next asked (after a change made elsewhere, e.g. through the ORM)."""
        self._counts = None


_EVENT_HEAD = select(_EVENTS.c.id, _EVENTS.c.status, _EVENTS.c.updated_at).where(_EVENTS.c.slug == bindparam("slug"))
# FOR UPDATE on PostgreSQL; SQLite has no row locks (a writer's session holds the database's write lock)
_EVENT_HEAD_LOCKED = _EVENT_HEAD.with_for_update()
_EVENT_SPEC = select(_EVENTS.c.spec, _EVENTS.c.updated_at).where(_EVENTS.c.id == bindparam("event_id"))
# the invited person of a personal link, their registration for the event if any, and the person's consent
# records about this event or about none (a row each)
_INVITED = (
    select(
        _PEOPLE.c.id,
        _PEOPLE.c.email,
        _PEOPLE.c.name,
        _PEOPLE.c.organisation,
        _PEOPLE.c.language,
        _REGISTRATIONS.c.id.label("registration_id"),
        _CONSENTS.c.event_id.label("consent_event_id"),
        _CONSENTS.c.kind.label("consent_kind"),
        _CONSENTS.c.granted.label("consent_granted"),
        _CONSENTS.c.version.label("consent_version"),
        _INVITATIONS.c.token_hash.label("digest"),
    )
    .select_from(
        _INVITATIONS.join(_PEOPLE, _PEOPLE.c.id == _INVITATIONS.c.person_id)
        .outerjoin(
            _REGISTRATIONS,
            (_REGISTRATIONS.c.event_id == _INVITATIONS.c.event_id) & (_REGISTRATIONS.c.person_id == _PEOPLE.c.id),
        )
        .outerjoin(
            _CONSENTS,
            (_CONSENTS.c.person_id == _PEOPLE.c.id)
            & (_CONSENTS.c.event_id.is_(None) | (_CONSENTS.c.event_id == _INVITATIONS.c.event_id)),
        )
    )
    .where(_INVITATIONS.c.event_id == bindparam("event_id"))
    .order_by(_CONSENTS.c.id)
)
# ... of one link, and of the links of a batch of registrations
_INVITED_ONE = _INVITED.where(_INVITATIONS.c.token_hash == bindparam("digest"))
_INVITED_MANY = _INVITED.where(_INVITATIONS.c.token_hash.in_(bindparam("digests", expanding=True)))
_REGISTRATION_OF = select(_REGISTRATIONS.c.id).where(
    _REGISTRATIONS.c.event_id == bindparam("event_id"), _REGISTRATIONS.c.person_id == bindparam("person_id")
)
# the ids in the order of the rows given, for one row or many (one INSERT ... VALUES (...), (...) statement)
_INSERT_REGISTRATION = insert(_REGISTRATIONS).returning(_REGISTRATIONS.c.id, sort_by_parameter_order=True)
_UPDATE_PERSON = (
    sql_update(_PEOPLE)
    .where(_PEOPLE.c.id == bindparam("person_id"))
    .values(name=bindparam("new_name"), organisation=bindparam("new_organisation"), language=bindparam("new_language"))
)
# several rows: an executemany (pipelined on PostgreSQL; psycopg converts its one-row statement once)
_INSERT_CONSENTS = insert(_CONSENTS)


def _upsert_person(dialect: str) -> Any:
    # one statement whether new or known: the no-op update makes RETURNING give the existing row's id
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_PEOPLE)
    statement = statement.on_conflict_do_update(index_elements=["email"], set_={"email": statement.excluded.email})
    return statement.returning(_PEOPLE.c.id)


_UPSERT_PERSON = {"postgresql": _upsert_person("postgresql"), "sqlite": _upsert_person("sqlite")}


@dataclass(frozen=True)
class _Ref:
    """A row as the outbox's email needs it (emails.enqueue)."""

    id: int
    email: str = ""
    status: str = ""
    revision: int = 0
    expires_at: datetime | None = None


def _person_id(connection: Connection, email: str, name: str, organisation: str | None, language: str) -> int:
    """The person with this address, made if new (a person may register for two events at once)."""
    now = utcnow()
    values = {"email": email, "name": name, "organisation": organisation, "language": language,
              "created_at": now, "updated_at": now}  # fmt: skip
    return int(connection.execute(_UPSERT_PERSON[connection.dialect.name], values).scalar_one())


def _taken(session: Session, event_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).where(Registration.event_id == event_id, Registration.status == "registered")
        )
        or 0
    )


def _new_status(spec: EventSpec, taken: Callable[[], int]) -> str:
    """A place if one is left, else a place on the waiting list (the places taken are counted only when the
    event has a limit)."""
    return "registered" if spec.capacity is None or taken() < spec.capacity else "waitlisted"


def _optin_expiry(spec: EventSpec, now: datetime) -> datetime:
    """When a public request made now lapses unconfirmed: after OPTIN_VALID, at the latest at the deadline."""
    return min(now + OPTIN_VALID, spec.registration_deadline or spec.end, spec.end)


def _allocate(session: Session, event: Event, spec: EventSpec, registration: Registration, now: datetime) -> None:
    """Give a place if there is one, else a place on the waiting list (the event row is locked)."""
    registration.status = _new_status(spec, lambda: _taken(session, event.id))
    registration.created_at = now  # the waiting list is ordered by the time a place was asked for
    registration.confirmed_at = now
    registration.expires_at = None
    registration.revision += 1


def manage_token(rt: Runtime, registration: Registration) -> str:
    return signed_token(rt.settings.secret_key, "manage", registration.id, registration.token_nonce)


def confirm_token(rt: Runtime, registration: Registration) -> str:
    return signed_token(rt.settings.secret_key, "confirm", registration.id, registration.token_nonce)


def _outcome(
    session: Session, rt: Runtime, registration: Registration, created: bool, promoted: int | None = None
) -> Outcome:
    if created and registration.status == "waitlisted":
        # just put on the list, with the newest time of all: its place is the length of the list
        position: int | None = waitlist.length(session, registration.event_id)
    else:
        position = waitlist.position(session, registration)
    return Outcome(
        registration.id,
        registration.person_id,
        registration.status,
        created,
        position,
        manage_token(rt, registration) if created and registration.status != "pending" else None,
        promoted,
    )


def _invitation_digest(rt: Runtime, token: str | None) -> str | None:
    """How a personal invitation link's token is stored (a keyed hash); None for no token or one of the wrong
    shape, which can belong to no invitation."""
    if not token or len(token) > 100 or not token.isascii():
        return None
    return token_hash(rt.settings.secret_key, "register", token)


def invitation_person(session: Session, rt: Runtime, event_id: int, token: str | None) -> Person | None:
    """The invited person a personal invitation link belongs to, or None for a wrong or missing token."""
    digest = _invitation_digest(rt, token)
    if digest is None:
        return None
    return session.scalar(
        select(Person)
        .join(Invitation, Invitation.person_id == Person.id)
        .where(Invitation.token_hash == digest, Invitation.event_id == event_id)
    )


def submit(
    rt: Runtime,
    slug: str,
    data: RegistrationInput,
    *,
    invitation_token: str | None = None,
    now: datetime | None = None,
    checked_with: tuple[int, Any] | None = None,
) -> Outcome:
    """Register a person (already validated): with a valid invitation link at once, else after opt-in.

    A person with a place or on the waiting list gets that back unchanged; a repeated public request
    renews the confirmation email. `checked_with`: the version of the event (known_spec) whose fields the
    input was checked against; SpecChanged when the event has changed since (nothing is written then).

    Registrations that arrive together are written together (batch.Desk, one per runtime): one transaction,
    one lock of the event and one commit for a batch, each registration decided in the order it arrived.
    """
    item = _Item(slug, data, invitation_token, now or datetime.now(UTC), checked_with)
    rt.local(_DESK).run(slug, item, partial(_write_batch, rt))
    return item.result()


@dataclass(eq=False)
class _Item:
    """One registration waiting at the desk, and what became of it."""

    slug: str
    data: RegistrationInput
    invitation_token: str | None
    now: datetime
    checked_with: tuple[int, Any] | None
    outcome: Outcome | None = None
    error: BaseException | None = None

    def result(self) -> Outcome:
        if self.error is not None:
            raise self.error
        assert self.outcome is not None
        return self.outcome


_DESK: Slot[Desk[_Item]] = Slot("registration desk", lambda rt: Desk(size=64))


def _write_batch(rt: Runtime, slug: str, batch: list[_Item]) -> None:
    """Every registration of the batch in one transaction; when that fails, each in its own, so that one
    registration's error is its own."""
    try:
        with rt.store.session(write_lock=True) as session:
            connection = session.connection()
            head = _event_head(connection, slug, lock=True)
            spec, version = _spec(rt, connection, head)
            places = _Places(connection, head.id)
            invited = _Invited(session, rt, head.id, [item.invitation_token for item in batch])
            for item in batch:
                item.outcome = item.error = None
                try:
                    outcome = _submit_one(session, rt, head, spec, version, places, invited, item)
                except (RegistrationClosed, SpecChanged) as exc:  # nothing written for this one
                    item.error = exc
                else:
                    if outcome is not None:  # else the invited registration is written with the others
                        item.outcome = outcome
            invited.write()
    except Exception as exc:  # noqa: BLE001 - rolled back as a whole: handed on, or each tried alone
        if len(batch) == 1:
            batch[0].outcome, batch[0].error = None, exc
            return
        for item in batch:
            _write_batch(rt, slug, [item])


def _submit_one(
    session: Session,
    rt: Runtime,
    head: SqlRow[Any],
    spec: EventSpec,
    version: tuple[int, Any],
    places: _Places,
    invited: _Invited,
    item: _Item,
) -> Outcome | None:
    """One registration of a batch (the event is locked). None: an invited person's first registration,
    decided now and written with the batch's others (its outcome then is on the item)."""
    data, now = item.data, item.now
    if item.checked_with is not None and item.checked_with != version:
        raise SpecChanged(item.slug)
    if _closed(head.status, spec, now):
        raise RegistrationClosed(item.slug)
    language = data.language or spec.language
    rows = invited.rows(item.invitation_token)
    trusted = bool(rows) and rows[0].email == data.email
    if trusted and rows[0].registration_id is None and not invited.has(rows[0].id):
        # the common case: a place, or a place on the waiting list, at once
        invited.register(item, spec, places, rows, language)
        return None
    invited.write()  # what follows reads the database: the batch's invited registrations go there first
    connection = session.connection()
    if trusted:
        # an invited person exists already (looked up again: the batch may have registered them meanwhile)
        rows = _invited(connection, rt, head.id, item.invitation_token)
        person_id, registration_id = rows[0].id, rows[0].registration_id
    else:
        # anyone else is made on first sight
        person_id = _person_id(connection, data.email, data.name, data.organisation, language)
        registration_id = connection.execute(_REGISTRATION_OF, {"event_id": head.id, "person_id": person_id}).scalar()
    if registration_id is None:
        return _request(session, rt, head.id, spec, person_id, data, language, now)
    # the person has (or had) a registration for this event: the rare case, through the ORM
    event, person = session.get(Event, head.id), session.get(Person, person_id)
    registration = session.get(Registration, registration_id)
    assert event is not None and person is not None and registration is not None
    places.forget()  # the ORM may change the counts
    return _again(session, rt, event, spec, person, registration, trusted, data, language, now)


def _invited(connection: Connection, rt: Runtime, event_id: int, token: str | None) -> Sequence[SqlRow[Any]]:
    """The rows of _INVITED for a personal invitation link; none for a wrong or missing token."""
    digest = _invitation_digest(rt, token)
    if digest is None:
        return []
    return connection.execute(_INVITED_ONE, {"digest": digest, "event_id": event_id}).all()


@dataclass
class _Decided:
    """An invited person's registration, decided and not yet written."""

    item: _Item
    person: SqlRow[Any]
    status: str
    position: int | None
    nonce: str
    registration: dict[str, Any]
    consents: list[dict[str, Any]]
    person_update: dict[str, Any] | None


class _Invited:
    """The invited registrations of a batch: its personal links looked up in one query, and the registrations
    they make (a place, or a place on the waiting list, at once) written together in a few statements, at the
    end of the batch or before a registration of another kind, which must see them in the database."""

    def __init__(self, session: Session, rt: Runtime, event_id: int, tokens: Sequence[str | None]):
        self._session, self._rt, self._event_id = session, rt, event_id
        self._digests = {t: d for t in tokens if t and (d := _invitation_digest(rt, t)) is not None}
        self._rows: dict[str, list[SqlRow[Any]]] = {}
        if self._digests:
            found = session.connection().execute(
                _INVITED_MANY, {"digests": sorted(set(self._digests.values())), "event_id": event_id}
            )
            for row in found:
                self._rows.setdefault(row.digest, []).append(row)
        self._decided: list[_Decided] = []
        self._people: set[int] = set()

    def rows(self, token: str | None) -> Sequence[SqlRow[Any]]:
        """The rows of _INVITED for a link of the batch, as they were when the batch began."""
        digest = self._digests.get(token) if token else None
        return self._rows.get(digest, []) if digest else []

    def has(self, person_id: int) -> bool:
        """Whether the batch has registered this person already (written or not)."""
        return person_id in self._people

    def register(
        self, item: _Item, spec: EventSpec, places: _Places, rows: Sequence[SqlRow[Any]], language: str
    ) -> None:
        data, now, person = item.data, item.now, rows[0]
        status = _new_status(spec, lambda: places.count("registered"))
        places.add(status)
        nonce = new_nonce()
        changed = (person.name, person.organisation, person.language) != (data.name, data.organisation, language)
        self._decided.append(
            _Decided(
                item,
                person,
                status,
                # just put on the list, with the newest time of all: its place is the length of the list
                places.count("waitlisted") if status == "waitlisted" else None,
                nonce,
                {
                    "event_id": self._event_id,
                    "person_id": person.id,
                    "status": status,
                    "answers": data.answers,
                    "source": "invited",
                    "token_nonce": nonce,
                    "pending": None,
                    "expires_at": None,
                    "revision": 1,
                    # the waiting list is ordered by the time a place was asked for
                    "created_at": now,
                    "confirmed_at": now,
                    "cancelled_at": None,
                    "checked_in_at": None,
                    "updated_at": utcnow(),
                },
                _consent_records(rows, self._event_id, spec, person.id, data.answers, "registration", now),
                {"person_id": person.id, "new_name": data.name, "new_organisation": data.organisation,
                 "new_language": language} if changed else None,
            )
        )  # fmt: skip
        self._people.add(person.id)

    def write(self) -> None:
        """Write the registrations decided so far (their people's changes, consent records and confirmation
        emails with them), and give each its outcome."""
        decided, self._decided = self._decided, []
        if not decided:
            return
        connection = self._session.connection()
        updates = [d.person_update for d in decided if d.person_update is not None]
        if updates:
            connection.execute(_UPDATE_PERSON, updates)
        ids = list(connection.execute(_INSERT_REGISTRATION, [d.registration for d in decided]).scalars())
        consents = [record for d in decided for record in d.consents]
        if consents:
            connection.execute(_INSERT_CONSENTS, consents)
        event = _Ref(self._event_id)
        rows = [
            emails.outbox_row(self._rt, event, _Ref(d.person.id, d.person.email), _Ref(i, status=d.status, revision=1))
            for d, i in zip(decided, ids, strict=True)
        ]
        outbox.enqueue(self._session, rows, ids=False)
        secret = self._rt.settings.secret_key
        for d, i in zip(decided, ids, strict=True):
            d.item.outcome = Outcome(
                i, d.person.id, d.status, True, d.position, signed_token(secret, "manage", i, d.nonce)
            )


def _consent_records(
    held: Sequence[SqlRow[Any]],
    event_id: int,
    spec: EventSpec,
    person_id: int,
    answers: Mapping[str, Any],
    source: str,
    now: datetime,
) -> list[dict[str, Any]]:
    """The records consents.record_registration writes (notice=True) for a registration form, given the
    person's records about this event or none in the order written (_INVITED's consent columns): a record
    for each choice that differs from the one that holds."""
    newest = {
        r.consent_kind: SimpleNamespace(
            event_id=r.consent_event_id, granted=r.consent_granted, version=r.consent_version
        )
        for r in held
        if r.consent_kind is not None
    }
    records = []
    for kind, granted, version in consents.registration_choices(spec, answers):
        scope = consents.scope_of(kind, event_id)
        if not consents.holds(newest.get(kind), scope, granted, version):
            records.append(
                {"person_id": person_id, "event_id": scope, "kind": kind, "granted": granted, "version": version,
                 "source": source, "recorded_at": now}
            )  # fmt: skip
    return records


def _request(
    session: Session,
    rt: Runtime,
    event_id: int,
    spec: EventSpec,
    person_id: int,
    data: RegistrationInput,
    language: str,
    now: datetime,
) -> Outcome:
    """A public request: it counts once the address owner confirms it (double opt-in); nothing about an
    existing person changes before."""
    expires_at = _optin_expiry(spec, now)
    registration_id = (
        session.connection()
        .execute(
            _INSERT_REGISTRATION,
            {
                "event_id": event_id,
                "person_id": person_id,
                "status": "pending",
                "answers": data.answers,
                "source": "public",
                "token_nonce": new_nonce(),
                "pending": {"name": data.name, "organisation": data.organisation, "language": language},
                "expires_at": expires_at,
                "revision": 1,
                "created_at": now,
                "confirmed_at": None,
                "cancelled_at": None,
                "checked_in_at": None,
                "updated_at": utcnow(),
            },
        )
        .scalar_one()
    )
    registration = _Ref(registration_id, status="pending", revision=1, expires_at=expires_at)
    emails.enqueue(
        session, rt, _Ref(event_id), _Ref(person_id, data.email), registration, now=now,
        recipient_name=data.name, language=language,
    )  # fmt: skip
    return Outcome(registration_id, person_id, "pending", True)


def _again(
    session: Session,
    rt: Runtime,
    event: Event,
    spec: EventSpec,
    person: Person,
    registration: Registration,
    trusted: bool,
    data: RegistrationInput,
    language: str,
    now: datetime,
) -> Outcome:
    """A person who has (or had) a registration for the event registers again."""
    if registration.status in ACTIVE:
        if trusted:
            return _outcome(session, rt, registration, created=False)
        # whoever typed this address may not be its owner: the owner gets their personal link again
        # by email, and the page says no more than "look in your mailbox"
        registration.revision += 1
        session.flush()
        emails.enqueue(session, rt, event, person, registration, now=now)
        return Outcome(registration.id, person.id, "pending", False)
    registration.answers = data.answers
    registration.cancelled_at = None
    # a new registration after a cancellation or expiry: no attendance from before carries over
    registration.checked_in_at = None
    session.execute(delete(Checkin).where(Checkin.registration_id == registration.id))
    details = {"name": data.name, "organisation": data.organisation, "language": language}
    if trusted:
        registration.source = "invited"
        person.name, person.organisation, person.language = data.name, data.organisation, language
        registration.pending = None
        _allocate(session, event, spec, registration, now)
        session.flush()
        consents.record_registration(session, event, spec, person, data.answers, "registration", now=now)
        emails.enqueue(session, rt, event, person, registration, now=now)
    else:
        # nothing about an existing person changes before the address owner confirms
        registration.source = "public"
        registration.status = "pending"
        registration.pending = details
        registration.created_at = now
        registration.expires_at = _optin_expiry(spec, now)
        registration.revision += 1
        session.flush()
        emails.enqueue(
            session, rt, event, person, registration, now=now,
            recipient_name=data.name, language=language,
        )  # fmt: skip
    return _outcome(session, rt, registration, created=True)


def _by_token(session: Session, rt: Runtime, slug: str, purpose: str, token: str) -> tuple[Event, Registration]:
    subject = token_subject(token or "")
    registration = session.get(Registration, subject) if subject is not None else None
    event = find_event(session, slug)
    if (
        registration is None
        or registration.event_id != event.id
        or not verify_signed(rt.settings.secret_key, purpose, token, registration.id, registration.token_nonce)
    ):
        raise InvalidLink(slug)
    return event, registration


def confirm(rt: Runtime, slug: str, token: str, *, now: datetime | None = None) -> Outcome:
    """The address owner confirms a public request: it gets a place or a place on the waiting list."""
    now = now or datetime.now(UTC)
    with rt.store.session(write_lock=True) as session:
        event = _locked_event(session, slug)
        _, registration = _by_token(session, rt, slug, "confirm", token)
        spec = spec_of(rt, event)
        if registration.status != "pending":
            return _outcome(session, rt, registration, created=False)  # a second click changes nothing
        if registration.expires_at is not None and now >= registration.expires_at:
            registration.status = "expired"
            return _outcome(session, rt, registration, created=False)
        if is_closed(event, spec, now):
            raise RegistrationClosed(slug)
        person = registration.person
        details = registration.pending or {}
        person.name = details.get("name") or person.name
        person.organisation = details.get("organisation")
        person.language = details.get("language") or person.language
        registration.pending = None
        _allocate(session, event, spec, registration, now)
        session.flush()
        # a public request's consents count once the address owner confirms it
        consents.record_registration(session, event, spec, person, registration.answers or {}, "confirmation", now=now)
        emails.enqueue(session, rt, event, person, registration, now=now)
        return _outcome(session, rt, registration, created=True)


def peek(rt: Runtime, slug: str, purpose: str, token: str) -> dict[str, Any]:
    """What a personal link shows (read only): the registration, its person and its place."""
    with rt.store.session() as session:
        event, registration = _by_token(session, rt, slug, purpose, token)
        person = registration.person
        details = registration.pending or {}
        return {
            "id": registration.id,
            "status": registration.status,
            "name": details.get("name") or person.name,
            "email": person.email,
            "organisation": details.get("organisation") if registration.pending else person.organisation,
            "language": details.get("language") or person.language,
            "answers": dict(registration.answers or {}),
            "position": waitlist.position(session, registration),
            "expires_at": registration.expires_at,
            "checked_in": registration.checked_in_at is not None,
        }


def update(rt: Runtime, slug: str, token: str, data: RegistrationInput) -> Outcome:
    """Change one's answers (and name or organisation); the email address stays what was confirmed."""
    with rt.store.session(write_lock=True) as session:
        event = _locked_event(session, slug)
        _, registration = _by_token(session, rt, slug, "manage", token)
        if registration.status not in ACTIVE:
            raise InvalidLink(slug)
        person = registration.person
        person.name, person.organisation = data.name, data.organisation
        if data.language:
            person.language = data.language
        registration.answers = data.answers
        spec = spec_of(rt, event)
        consents.record_registration(session, event, spec, person, data.answers, "manage-page", notice=False)
        return _outcome(session, rt, registration, created=False)


def cancel(rt: Runtime, slug: str, token: str, *, now: datetime | None = None) -> Outcome:
    """Cancel by personal link; a freed place goes to the first person waiting, who is told by email."""
    now = now or datetime.now(UTC)
    with rt.store.session(write_lock=True) as session:
        event = _locked_event(session, slug)
        _, registration = _by_token(session, rt, slug, "manage", token)
        if registration.status not in ACTIVE:
            return _outcome(session, rt, registration, created=False)
        return _cancel(session, rt, event, registration, now)


def _cancel(session: Session, rt: Runtime, event: Event, registration: Registration, now: datetime) -> Outcome:
    spec = spec_of(rt, event)
    had_place = registration.status == "registered"
    registration.status = "cancelled"
    registration.cancelled_at = now
    registration.revision += 1
    session.flush()
    emails.enqueue(session, rt, event, registration.person, registration, now=now, had_place=had_place)
    promoted = _promote(session, rt, event, spec, now) if had_place else None
    return Outcome(registration.id, registration.person_id, "cancelled", True, promoted=promoted)


def _promote(session: Session, rt: Runtime, event: Event, spec: EventSpec, now: datetime) -> int | None:
    if now >= spec.start or event.status == "cancelled":
        return None  # a place freed once the event runs is not given away by email any more
    if spec.capacity is not None and _taken(session, event.id) >= spec.capacity:
        return None
    first = waitlist.first(session, event.id)
    if first is None:
        return None
    first.status = "registered"
    first.revision += 1
    session.flush()
    emails.enqueue(session, rt, event, first.person, first, now=now, promoted=True)
    return first.id


def cancel_by_organiser(rt: Runtime, slug: str, registration_id: int, *, now: datetime | None = None) -> Outcome:
    now = now or datetime.now(UTC)
    with rt.store.session(write_lock=True) as session:
        event = _locked_event(session, slug)
        registration = session.get(Registration, registration_id)
        if registration is None or registration.event_id != event.id:
            raise InvalidLink(slug)
        if registration.status not in ACTIVE:
            return _outcome(session, rt, registration, created=False)
        return _cancel(session, rt, event, registration, now)


def expire_pending(rt: Runtime, *, now: datetime | None = None) -> int:
    """Unconfirmed public requests past their time lapse (they never held a place); returns how many."""
    now = now or datetime.now(UTC)
    with rt.store.session(write_lock=True) as session:
        rows = session.scalars(
            select(Registration).where(Registration.status == "pending", Registration.expires_at <= now)
        ).all()
        for registration in rows:
            registration.status = "expired"
            registration.pending = None
        return len(rows)


@dataclass(frozen=True)
class Row:
    id: int
    status: str
    name: str
    email: str
    organisation: str | None
    language: str
    source: str
    answers: dict[str, Any]
    created_at: datetime
    checked_in_at: datetime | None
    position: int | None


def listing(rt: Runtime, slug: str) -> tuple[EventSpec, list[Row]]:
    """Every registration of an event for the organiser: places first, then the waiting list in order."""
    order = {"registered": 0, "waitlisted": 1, "pending": 2, "cancelled": 3, "expired": 4}
    with rt.store.session() as session:
        event = find_event(session, slug)
        spec = spec_of(rt, event)
        rows = session.execute(
            select(Registration, Person)
            .join(Person, Person.id == Registration.person_id)
            .where(Registration.event_id == event.id)
            .order_by(*waitlist.ORDER)  # the waiting list's places are counted along the way
        ).all()
    out = []
    position = 0
    for registration, person in rows:
        if registration.status == "waitlisted":
            position += 1
        details = registration.pending or {}
        out.append(
            Row(
                registration.id,
                registration.status,
                details.get("name") or person.name,
                person.email,
                details.get("organisation") if registration.pending else person.organisation,
                details.get("language") or person.language,
                registration.source,
                dict(registration.answers or {}),
                registration.created_at,
                registration.checked_in_at,
                position if registration.status == "waitlisted" else None,
            )
        )
    out.sort(key=lambda r: (order.get(r.status, 9), r.created_at, r.id))
    return spec, out


def counts(rt: Runtime, slug: str) -> dict[str, int]:
    with rt.store.session() as session:
        event = find_event(session, slug)
        rows = session.execute(
            select(Registration.status, func.count())
            .where(Registration.event_id == event.id)
            .group_by(Registration.status)
        ).all()
    return {status: n for status, n in rows}


def availability(rt: Runtime, slug: str, now: datetime | None = None) -> dict[str, Any]:
    """What the public may know: places left (None without a limit), waiting list, open or closed."""
    now = now or datetime.now(UTC)
    with rt.store.session() as session:
        event = find_event(session, slug)
        spec = spec_of(rt, event)
        taken = _taken(session, event.id)
    return {
        "capacity": spec.capacity,
        "registered": taken,
        "places_left": None if spec.capacity is None else max(spec.capacity - taken, 0),
        "open": not is_closed(event, spec, now),
        "registration_deadline": spec.registration_deadline,
    }


# what this runtime has read for registrations (asked for on every registration), each cleared when full:
# parsed specs by version of the event row, the version and spec of an event by slug as last seen
# (known_spec), and registration fields by spec
_SPECS: Slot[dict[tuple[int, Any], EventSpec]] = Slot("parsed event specs", lambda rt: {})
_KNOWN: Slot[dict[str, tuple[tuple[int, Any], EventSpec]]] = Slot("events as last seen", lambda rt: {})
_FIELDS: Slot[dict[tuple[str, str, str], list[Any]]] = Slot("registration fields", lambda rt: {})


def spec_of(rt: Runtime, event: Event) -> EventSpec:
    """The event's spec, parsed once per version of the event row (it is read on every registration)."""
    key = (event.id, event.updated_at)
    spec = rt.local(_SPECS).get(key)
    return spec if spec is not None else _remember(rt, key, event.spec)


def _remember(rt: Runtime, key: tuple[int, Any], data: dict[str, Any]) -> EventSpec:
    specs = rt.local(_SPECS)
    spec = specs.get(key)
    if spec is None:
        if len(specs) > 256:
            specs.clear()
        spec = specs[key] = EventSpec.from_data(data)
    return spec


def _event_head(connection: Connection, slug: str, *, lock: bool = False) -> SqlRow[Any]:
    """The event's id, status and version (updated_at), row-locked with lock=True on PostgreSQL; its spec,
    a large JSON document, is read only when this process has not parsed that version yet (_spec)."""
    if not is_slug(slug):
        raise EventNotFound(str(slug)[:100])
    head = connection.execute(_EVENT_HEAD_LOCKED if lock else _EVENT_HEAD, {"slug": slug}).first()
    if head is None:
        raise EventNotFound(slug)
    return head


def _spec(rt: Runtime, connection: Connection, head: SqlRow[Any]) -> tuple[EventSpec, tuple[int, Any]]:
    """The spec of the event of `head`, and its version (the key of spec_of's cache)."""
    key = (head.id, head.updated_at)
    spec = rt.local(_SPECS).get(key)
    if spec is None:
        row = connection.execute(_EVENT_SPEC, {"event_id": head.id}).one()
        key = (head.id, row.updated_at)
        spec = _remember(rt, key, row.spec)
    return spec, key


def event_spec(rt: Runtime, slug: str) -> EventSpec:
    """The spec of the event with this slug (EventNotFound if there is none)."""
    with rt.store.session() as session:
        connection = session.connection()
        return _spec(rt, connection, _event_head(connection, slug))[0]


def known_spec(rt: Runtime, slug: str, *, fresh: bool = False) -> tuple[tuple[int, Any], EventSpec]:
    """The version and spec of the event with this slug as this process last saw them (EventNotFound if there
    is none): without a query once seen, or read again with fresh=True. For checking a registration's input
    before submit(checked_with=version), which raises SpecChanged when the event has changed since."""
    seen = rt.local(_KNOWN)
    known = None if fresh else seen.get(slug)
    if known is None:
        with rt.store.session() as session:
            connection = session.connection()
            spec, version = _spec(rt, connection, _event_head(connection, slug))
        known = (version, spec)
        if len(seen) > 1024:
            seen.clear()
        seen[slug] = known
    return known


def event_fields(rt: Runtime, spec: EventSpec) -> list[Any]:
    """The registration fields of an event (cached per spec: they are asked for on every registration)."""
    key = (spec.slug, spec.format, json.dumps(spec.extra, sort_keys=True, default=str))
    cached = rt.local(_FIELDS)
    fields = cached.get(key)
    if fields is None:
        if len(cached) > 256:
            cached.clear()
        fields = cached[key] = form_fields(format_for(rt.settings, spec.format), spec)
    return fields


delivery.on_sweep(expire_pending)
