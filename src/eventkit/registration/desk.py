"""The registration desk: submit() and the batches it writes, an invited person's registration in a few statements.

Registrations that arrive together are written together (batch.Desk, one per runtime): one transaction, one
lock of the event and one commit for a batch. A person invited by a personal link has a place (or a place on
the waiting list) at once; anyone else makes a public request (optin); a person who registers again goes
through the ORM, the rare case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, delete
from sqlalchemy.engine import Row as SqlRow
from sqlalchemy.orm import Session

from eventkit.consent import consents
from eventkit.core.tokens import new_nonce, signed_token
from eventkit.db.store import Checkin, Event, Person, Registration, utcnow
from eventkit.mail import outbox
from eventkit.model.registration_form import RegistrationInput
from eventkit.model.spec import EventSpec
from eventkit.registration import emails, optin
from eventkit.registration.batch import Desk
from eventkit.registration.links import invitation_digest
from eventkit.registration.rules import (
    ACTIVE,
    Outcome,
    RegistrationClosed,
    SpecChanged,
    allocate,
    closed,
    new_status,
    outcome,
)
from eventkit.registration.specs import event_head, read_spec
from eventkit.registration.statements import (
    INSERT_CONSENTS,
    INSERT_REGISTRATION,
    INVITED_MANY,
    INVITED_ONE,
    PLACES,
    REGISTRATION_OF,
    UPDATE_PERSON,
    UPSERT_PERSON,
    Ref,
)
from eventkit.runtime import Runtime, Slot


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
            head = event_head(connection, slug, lock=True)
            spec, version = read_spec(rt, connection, head)
            places = Places(connection, head.id)
            invited = _Invited(session, rt, head.id, [item.invitation_token for item in batch])
            for item in batch:
                item.outcome = item.error = None
                try:
                    result = _submit_one(session, rt, head, spec, version, places, invited, item)
                except (RegistrationClosed, SpecChanged) as exc:  # nothing written for this one
                    item.error = exc
                else:
                    if result is not None:  # else the invited registration is written with the others
                        item.outcome = result
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
    places: Places,
    invited: _Invited,
    item: _Item,
) -> Outcome | None:
    """One registration of a batch (the event is locked). None: an invited person's first registration,
    decided now and written with the batch's others (its outcome then is on the item)."""
    data, now = item.data, item.now
    if item.checked_with is not None and item.checked_with != version:
        raise SpecChanged(item.slug)
    if closed(head.status, spec, now):
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
        registration_id = connection.execute(REGISTRATION_OF, {"event_id": head.id, "person_id": person_id}).scalar()
    if registration_id is None:
        return optin.request(session, rt, head.id, spec, person_id, data, language, now)
    # the person has (or had) a registration for this event: the rare case, through the ORM
    event, person = session.get(Event, head.id), session.get(Person, person_id)
    registration = session.get(Registration, registration_id)
    assert event is not None and person is not None and registration is not None
    places.forget()  # the ORM may change the counts
    return _again(session, rt, event, spec, person, registration, trusted, data, language, now)


def _invited(connection: Connection, rt: Runtime, event_id: int, token: str | None) -> Sequence[SqlRow[Any]]:
    """The rows of INVITED_ONE for a personal invitation link; none for a wrong or missing token."""
    digest = invitation_digest(rt, token)
    if digest is None:
        return []
    return connection.execute(INVITED_ONE, {"digest": digest, "event_id": event_id}).all()


class Places:
    """The places taken and the length of the waiting list while a batch is written (the event is locked):
    counted once, then kept up to date by the batch, instead of two counts for every registration."""

    def __init__(self, connection: Connection, event_id: int):
        self._connection, self._event_id = connection, event_id
        self._counts: dict[str, int] | None = None

    def count(self, status: str) -> int:
        if self._counts is None:
            rows = self._connection.execute(PLACES, {"event_id": self._event_id})
            self._counts = {status: int(n) for status, n in rows}
        return self._counts.get(status, 0)

    def add(self, status: str) -> None:
        n = self.count(status)
        assert self._counts is not None
        self._counts[status] = n + 1

    def forget(self) -> None:
        """Counted again when next asked (after a change made elsewhere, e.g. through the ORM)."""
        self._counts = None


def _person_id(connection: Connection, email: str, name: str, organisation: str | None, language: str) -> int:
    """The person with this address, made if new (a person may register for two events at once)."""
    now = utcnow()
    values = {"email": email, "name": name, "organisation": organisation, "language": language,
              "created_at": now, "updated_at": now}  # fmt: skip
    return int(connection.execute(UPSERT_PERSON[connection.dialect.name], values).scalar_one())


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
        self._digests = {t: d for t in tokens if t and (d := invitation_digest(rt, t)) is not None}
        self._rows: dict[str, list[SqlRow[Any]]] = {}
        if self._digests:
            found = session.connection().execute(
                INVITED_MANY, {"digests": sorted(set(self._digests.values())), "event_id": event_id}
            )
            for row in found:
                self._rows.setdefault(row.digest, []).append(row)
        self._decided: list[_Decided] = []
        self._people: set[int] = set()

    def rows(self, token: str | None) -> Sequence[SqlRow[Any]]:
        """The rows of INVITED_MANY for a link of the batch, as they were when the batch began."""
        digest = self._digests.get(token) if token else None
        return self._rows.get(digest, []) if digest else []

    def has(self, person_id: int) -> bool:
        """Whether the batch has registered this person already (written or not)."""
        return person_id in self._people

    def register(
        self, item: _Item, spec: EventSpec, places: Places, rows: Sequence[SqlRow[Any]], language: str
    ) -> None:
        data, now, person = item.data, item.now, rows[0]
        status = new_status(spec, lambda: places.count("registered"))
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
            connection.execute(UPDATE_PERSON, updates)
        ids = list(connection.execute(INSERT_REGISTRATION, [d.registration for d in decided]).scalars())
        consents = [record for d in decided for record in d.consents]
        if consents:
            connection.execute(INSERT_CONSENTS, consents)
        event = Ref(self._event_id)
        rows = [
            emails.outbox_row(self._rt, event, Ref(d.person.id, d.person.email), Ref(i, status=d.status, revision=1))
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
    person's records about this event or none in the order written (the INVITED_* statements' consent columns): a record
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
            return outcome(session, rt, registration, created=False)
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
        allocate(session, event, spec, registration, now)
        session.flush()
        consents.record_registration(session, event, spec, person, data.answers, "registration", now=now)
        emails.enqueue(session, rt, event, person, registration, now=now)
    else:
        # nothing about an existing person changes before the address owner confirms
        registration.source = "public"
        registration.status = "pending"
        registration.pending = details
        registration.created_at = now
        registration.expires_at = optin.expiry(spec, now)
        registration.revision += 1
        session.flush()
        emails.enqueue(
            session, rt, event, person, registration, now=now,
            recipient_name=data.name, language=language,
        )  # fmt: skip
    return outcome(session, rt, registration, created=True)
