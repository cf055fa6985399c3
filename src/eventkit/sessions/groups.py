"""Working groups: everyone with a place into a group of their choice, within each group's places."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select

from eventkit.db.store import Person, Registration, WorkingGroupMember
from eventkit.events.events import find_event
from eventkit.model import planner
from eventkit.model.spec import EventSpec
from eventkit.runtime import Runtime

GROUP_FIELDS = ("working_group_first", "working_group_second")  # Netzwerktreffen registration fields


def group_capacities(spec: EventSpec, people: int) -> dict[str, int]:
    """Places per working group: the spec's `working_group_capacity` (a number for all, or per group);
    without it a group has room for everyone."""
    groups = [str(g) for g in spec.extra.get("working_groups") or [] if isinstance(g, str | int) and str(g)]
    raw = spec.extra.get("working_group_capacity")
    out = {}
    for g in groups:
        if isinstance(raw, dict):
            value = raw.get(g)
            out[g] = int(value) if isinstance(value, int) and not isinstance(value, bool) else max(people, 1)
        elif isinstance(raw, int) and not isinstance(raw, bool):
            out[g] = raw
        else:
            out[g] = max(people, 1)
    return out


def assign_working_groups(rt: Runtime, slug: str) -> planner.GroupAssignment:
    """Everyone with a place into a working group of their choice within each group's places, as many first
    choices as possible (eventkit.model.planner.assign_groups); the result replaces the previous assignment."""
    with rt.store.session(write_lock=True) as session:
        event = find_event(session, slug, lock=True)
        spec = EventSpec.from_data(event.spec)
        rows = session.scalars(
            select(Registration).where(Registration.event_id == event.id, Registration.status == "registered")
        ).all()
        preferences: dict[str, list[str]] = {}
        for registration in rows:
            answers = registration.answers or {}
            preferences[str(registration.id)] = [
                v for v in (answers.get(f) for f in GROUP_FIELDS) if isinstance(v, str) and v
            ]
        capacities = group_capacities(spec, len(rows))
        result = planner.assign_groups(preferences, capacities)
        session.execute(delete(WorkingGroupMember).where(WorkingGroupMember.event_id == event.id))
        now = datetime.now(UTC)
        for person, group in sorted(result.assignment.items()):
            chosen = preferences[person]
            session.add(
                WorkingGroupMember(
                    event_id=event.id,
                    registration_id=int(person),
                    group_name=group,
                    rank=chosen.index(group) + 1 if group in chosen else None,
                    created_at=now,
                )
            )
        return result


def working_groups(rt: Runtime, slug: str) -> dict[str, list[tuple[str, int | None]]]:
    """The stored assignment: per group (in the spec's order), its members' names and the rank of their choice."""
    with rt.store.session() as session:
        event = find_event(session, slug)
        spec = EventSpec.from_data(event.spec)
        out: dict[str, list[tuple[str, int | None]]] = {
            str(g): [] for g in spec.extra.get("working_groups") or [] if isinstance(g, str | int)
        }
        for group, name, rank in session.execute(
            select(WorkingGroupMember.group_name, Person.name, WorkingGroupMember.rank)
            .join(Registration, Registration.id == WorkingGroupMember.registration_id)
            .join(Person, Person.id == Registration.person_id)
            .where(WorkingGroupMember.event_id == event.id)
            .order_by(Person.name)
        ):
            out.setdefault(group, []).append((name, rank))
        return out
