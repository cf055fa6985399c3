"""An event's registrations in figures, for the operator's registration-table artifact: counts, never a name."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select

from eventkit.db.store import Person, Registration
from eventkit.events.events import find_event, format_for
from eventkit.model.registration_form import form_fields
from eventkit.model.spec import EventSpec
from eventkit.runtime import Runtime

STATUSES = ("registered", "waitlisted", "pending", "cancelled", "expired")
# answers worth counting for the preparation (catering, interpreters, rooms); free text is left out
COUNTED_TYPES = ("choice", "multichoice", "checkbox")


def registration_table(rt: Runtime, slug: str) -> list[dict[str, Any]]:
    """Rows of (what, count): places and waiting list, check-ins, organisations, and how many of those with a
    place chose each option of the format's fields (food, support needs, working groups, ...)."""
    with rt.store.session() as session:
        event = find_event(session, slug)
        spec = EventSpec.from_data(event.spec)
        by_status: dict[str, int] = {
            status: n
            for status, n in session.execute(
                select(Registration.status, func.count())
                .where(Registration.event_id == event.id)
                .group_by(Registration.status)
            )
        }
        placed = session.execute(
            select(Registration.answers, Registration.checked_in_at, Person.organisation)
            .join(Person, Person.id == Registration.person_id)
            .where(Registration.event_id == event.id, Registration.status == "registered")
        ).all()
    language = spec.language
    rows: list[dict[str, Any]] = [{"what": f"status: {s}", "count": by_status.get(s, 0)} for s in STATUSES]
    if spec.capacity is not None:
        rows.append({"what": "places", "count": spec.capacity})
    rows.append({"what": "checked in", "count": sum(1 for p in placed if p.checked_in_at is not None)})
    rows.append({"what": "organisations", "count": len({p.organisation.strip() for p in placed if p.organisation})})
    chosen: Counter[tuple[str, str]] = Counter()
    for p in placed:
        answers = p.answers or {}
        for name, value in answers.items():
            for v in value if isinstance(value, list) else [value]:
                if v not in (None, "", False):
                    chosen[(name, str(v))] += 1
    for field in form_fields(format_for(rt.settings, spec.format), spec):
        if field.type not in COUNTED_TYPES:
            continue
        if field.type == "checkbox":
            rows.append({"what": field.label.get(language)[:80], "count": chosen[(field.name, "True")]})
            continue
        for value, label in field.options:
            rows.append(
                {
                    "what": f"{field.label.get(language)[:60]}: {label.get(language)}",
                    "count": chosen[(field.name, value)],
                }
            )
    return rows
