"""The registration path's SQL: Core statements built once at import, not through the ORM on every request.

Through the ORM (objects, flushes, statements built on every call) a new registration cost several
milliseconds of CPU per request, under the event's lock; these are made once and only executed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy import update as sql_update
from sqlalchemy.dialects import postgresql, sqlite

from eventkit.db.store import ConsentRecord, Event, Invitation, Person, Registration
from eventkit.registration.rules import ACTIVE

_EVENTS = cast(Table, Event.__table__)
_PEOPLE = cast(Table, Person.__table__)
_INVITATIONS = cast(Table, Invitation.__table__)
_REGISTRATIONS = cast(Table, Registration.__table__)
_CONSENTS = cast(Table, ConsentRecord.__table__)


# the places taken and the length of the waiting list (desk.Places)
PLACES = (
    select(_REGISTRATIONS.c.status, func.count())
    .where(_REGISTRATIONS.c.event_id == bindparam("event_id"), _REGISTRATIONS.c.status.in_(ACTIVE))
    .group_by(_REGISTRATIONS.c.status)
)
EVENT_HEAD = select(_EVENTS.c.id, _EVENTS.c.status, _EVENTS.c.updated_at).where(_EVENTS.c.slug == bindparam("slug"))
# FOR UPDATE on PostgreSQL; SQLite has no row locks (a writer's session holds the database's write lock)
EVENT_HEAD_LOCKED = EVENT_HEAD.with_for_update()
EVENT_SPEC = select(_EVENTS.c.spec, _EVENTS.c.updated_at).where(_EVENTS.c.id == bindparam("event_id"))
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
INVITED_ONE = _INVITED.where(_INVITATIONS.c.token_hash == bindparam("digest"))
INVITED_MANY = _INVITED.where(_INVITATIONS.c.token_hash.in_(bindparam("digests", expanding=True)))
REGISTRATION_OF = select(_REGISTRATIONS.c.id).where(
    _REGISTRATIONS.c.event_id == bindparam("event_id"), _REGISTRATIONS.c.person_id == bindparam("person_id")
)
# the ids in the order of the rows given, for one row or many (one INSERT ... VALUES (...), (...) statement)
INSERT_REGISTRATION = insert(_REGISTRATIONS).returning(_REGISTRATIONS.c.id, sort_by_parameter_order=True)
UPDATE_PERSON = (
    sql_update(_PEOPLE)
    .where(_PEOPLE.c.id == bindparam("person_id"))
    .values(name=bindparam("new_name"), organisation=bindparam("new_organisation"), language=bindparam("new_language"))
)
# several rows: an executemany (pipelined on PostgreSQL; psycopg converts its one-row statement once)
INSERT_CONSENTS = insert(_CONSENTS)


def _upsert_person(dialect: str) -> Any:
    # one statement whether new or known: the no-op update makes RETURNING give the existing row's id
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_PEOPLE)
    statement = statement.on_conflict_do_update(index_elements=["email"], set_={"email": statement.excluded.email})
    return statement.returning(_PEOPLE.c.id)


# by the connection's dialect name
UPSERT_PERSON = {"postgresql": _upsert_person("postgresql"), "sqlite": _upsert_person("sqlite")}


@dataclass(frozen=True)
class Ref:
    """A row written by these statements, as the outbox's email needs it (emails.enqueue)."""

    id: int
    email: str = ""
    status: str = ""
    revision: int = 0
    expires_at: datetime | None = None
