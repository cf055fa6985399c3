"""Who had a place at an event, and the recap's figures of who came from where."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from eventkit.core.settings import Settings
from eventkit.db.store import Event, Person, Registration
from eventkit.door import checkins
from eventkit.events.events import find_event, format_for
from eventkit.model.spec import EventSpec
from eventkit.runtime import Runtime


@dataclass(frozen=True)
class Participant:
    registration_id: int
    person_id: int
    name: str
    email: str
    organisation: str
    language: str
    answers: dict[str, Any]
    checked_in_at: datetime | None
    token_nonce: str
    check_ins: dict[date, datetime] = field(default_factory=dict)  # day -> when (eventkit.door.checkins)


def participants(rt: Runtime, slug: str) -> tuple[Event, EventSpec, list[Participant]]:
    """The event and everyone who has a place (status registered), in order of name."""
    with rt.store.session() as session:
        event = find_event(session, slug)
        session.expunge(event)
        rows = session.execute(
            select(Registration, Person)
            .join(Person, Person.id == Registration.person_id)
            .where(Registration.event_id == event.id, Registration.status == "registered")
        ).all()
        marks = checkins.by_registration(session, event.id)
    people = [
        Participant(
            r.id,
            p.id,
            p.name,
            p.email.lower(),
            (p.organisation or "").strip(),
            p.language or "",
            dict(r.answers or {}),
            r.checked_in_at,
            r.token_nonce,
            marks.get(r.id, {}),
        )
        for r, p in rows
    ]
    people.sort(key=lambda x: (x.name.casefold(), x.registration_id))
    return event, EventSpec.from_data(event.spec), people


def has_town(settings: Settings, spec: EventSpec) -> bool:
    """Whether the format asks for a town at registration (the store keeps no address otherwise)."""
    return any(f.name == "town" for f in format_for(settings, spec.format).registration_fields)


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


@dataclass
class Figures:
    registered: int
    attended: int
    organisations: int
    towns: int | None  # None: the registration does not ask for a town
    listed: list[str]  # organisations of attendees who agreed to be listed
    checked_in: bool  # whether attendance was recorded at all
    per_day: list[tuple[date, int]] = field(default_factory=list)  # a multi-day event's attendance on each day


def figures(settings: Settings, spec: EventSpec, people: list[Participant]) -> Figures:
    attended = [p for p in people if p.checked_in_at is not None]
    orgs: dict[str, str] = {}
    for p in attended:
        if p.organisation:
            orgs.setdefault(_key(p.organisation), p.organisation)
    listed: dict[str, str] = {}
    for p in attended:
        if p.organisation and p.answers.get("list_organisation") is True:
            listed.setdefault(_key(p.organisation), p.organisation)
    towns = None
    if has_town(settings, spec):
        towns = len({_key(str(p.answers.get("town"))) for p in attended if p.answers.get("town")})
    return Figures(
        registered=len(people),
        attended=len(attended),
        organisations=len(orgs),
        towns=towns,
        listed=sorted(listed.values(), key=str.casefold),
        checked_in=bool(attended),
        per_day=[(day, sum(1 for p in attended if day in p.check_ins)) for day in spec.days] if spec.multi_day else [],
    )
