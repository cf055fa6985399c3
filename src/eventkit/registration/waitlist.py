"""The waiting list's order: who asked for a place first (the time of asking, then the registration's id)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from eventkit.db.store import Registration

# a registration's created_at is the time it asked for a place (eventkit.registration.rules.allocate)
ORDER = (Registration.created_at, Registration.id)


def _waiting(event_id: Any) -> Any:
    return (Registration.event_id == event_id) & (Registration.status == "waitlisted")


def position(session: Session, registration: Registration) -> int | None:
    """Place on the waiting list, counted from 1, in ORDER; None when not on it."""
    if registration.status != "waitlisted":
        return None
    waiting = _waiting(registration.event_id)
    # two range counts on (event_id, status, created_at); one OR of both would scan the waiting list
    up_to = session.scalar(select(func.count()).where(waiting, Registration.created_at <= registration.created_at))
    tied_after = session.scalar(
        select(func.count()).where(
            waiting, Registration.created_at == registration.created_at, Registration.id > registration.id
        )
    )
    return (up_to or 0) - (tied_after or 0)


def positions(session: Session, event_id: int) -> dict[int, int]:
    """The place of everyone on the event's waiting list (registration id: place from 1), in one query."""
    waiting = session.execute(select(Registration.id).where(_waiting(event_id)).order_by(*ORDER)).scalars()
    return {registration_id: place for place, registration_id in enumerate(waiting, start=1)}


def first(session: Session, event_id: int) -> Registration | None:
    """Who is next when a place frees."""
    return session.scalars(select(Registration).where(_waiting(event_id)).order_by(*ORDER).limit(1)).first()


def length(session: Session, event_id: int) -> int:
    return session.scalar(select(func.count()).where(_waiting(event_id))) or 0
