"""The session board participants see: the sessions with their interest, and marking interest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as DbSession

from eventkit.core.validation import clean_line
from eventkit.db.store import Registration, SessionBoard, SessionInterest, SessionProposal
from eventkit.events.events import find_event
from eventkit.model import planner
from eventkit.runtime import Runtime
from eventkit.sessions.grid import draft_data, slot_of
from eventkit.sessions.participants import names_of, participant_registration, registered_ids
from eventkit.sessions.proposals import (
    DESCRIPTION_FIELD,
    MAX_TITLE,
    TITLE_FIELD,
    UnknownSession,
    import_ideas,
    is_active,
    open_proposal,
)


@dataclass(frozen=True)
class SessionView:
    key: str  # the id as forms send it: the session's id, or "r<registration>" for an idea not yet on the board
    id: int | None
    title: str
    description: str
    hosts: tuple[str, ...]
    host_ids: tuple[int, ...]
    interest: int
    interested: bool = False  # the viewer marked it
    hosted: bool = False  # the viewer hosts it
    notes: str = ""
    slot: planner.Slot | None = None
    frozen: bool = False


def _insert(session: DbSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def set_interest(rt: Runtime, slug: str, token: str, key: str, interested: bool) -> int:
    """Mark (or unmark) interest in a session; `key` is a session id, or "r<registration id>" for an idea
    from the registration form not yet on the board. Returns the session's id."""
    with rt.store.session(write_lock=True) as session:
        event = find_event(session, slug)
        registration = participant_registration(session, rt, event, token)
        proposal_id: int | None = None
        if key.startswith("r") and key[1:].isdigit() and len(key) < 19:
            import_ideas(session, event)
            proposal_id = session.scalar(
                select(SessionProposal.id).where(
                    SessionProposal.event_id == event.id, SessionProposal.from_registration_id == int(key[1:])
                )
            )
        elif key.isdigit() and len(key) < 19:
            proposal_id = int(key)
        if proposal_id is None:
            raise UnknownSession(key[:40])
        proposal = open_proposal(session, event, proposal_id)
        if interested:
            statement = _insert(session)(SessionInterest).values(
                proposal_id=proposal.id, registration_id=registration.id, created_at=datetime.now(UTC)
            )
            session.execute(statement.on_conflict_do_nothing(index_elements=["proposal_id", "registration_id"]))
        else:
            session.execute(
                delete(SessionInterest).where(
                    SessionInterest.proposal_id == proposal.id, SessionInterest.registration_id == registration.id
                )
            )
        return proposal.id


def board(rt: Runtime, slug: str, viewer: int | None = None) -> list[SessionView]:
    """The sessions of the board (read only): proposals, and registration ideas not yet taken over, with
    their interest counts; `viewer` (a registration id) gets their own marks. Most interest first."""
    with rt.store.session() as session:
        event = find_event(session, slug)
        registered = registered_ids(session, event.id)
        proposals = [
            p
            for p in session.scalars(select(SessionProposal).where(SessionProposal.event_id == event.id))
            if is_active(p, registered)
        ]
        counts: dict[int, int] = dict(
            session.execute(  # type: ignore[arg-type]
                select(SessionInterest.proposal_id, func.count())
                .join(Registration, Registration.id == SessionInterest.registration_id)
                .where(SessionInterest.proposal_id.in_([p.id for p in proposals]), Registration.status == "registered")
                .group_by(SessionInterest.proposal_id)
            ).all()
        )
        mine: set[int] = set()
        if viewer is not None:
            mine = set(
                session.scalars(select(SessionInterest.proposal_id).where(SessionInterest.registration_id == viewer))
            )
        names = names_of(session, [h for p in proposals for h in p.hosts or []])
        board_row = session.scalar(select(SessionBoard).where(SessionBoard.event_id == event.id))
        data = draft_data(board_row)
        views = [
            SessionView(
                key=str(p.id),
                id=p.id,
                title=p.title,
                description=p.description or "",
                hosts=tuple(names.get(h, "") for h in p.hosts or [] if h in names),
                host_ids=tuple(p.hosts or []),
                interest=counts.get(p.id, 0),
                interested=p.id in mine,
                hosted=viewer in (p.hosts or []),
                notes=p.notes or "",
                slot=slot_of(data["placements"].get(str(p.id))),
                frozen=str(p.id) in data["frozen"],
            )
            for p in proposals
        ]
        taken = {
            p.from_registration_id
            for p in session.scalars(select(SessionProposal).where(SessionProposal.event_id == event.id))
        }
        for registration in session.scalars(
            select(Registration).where(Registration.event_id == event.id, Registration.status == "registered")
        ):
            answers = registration.answers or {}
            title = answers.get(TITLE_FIELD)
            if registration.id in taken or not isinstance(title, str) or not title.strip():
                continue
            description = answers.get(DESCRIPTION_FIELD)
            views.append(
                SessionView(
                    key=f"r{registration.id}",
                    id=None,
                    title=clean_line(title)[:MAX_TITLE],
                    description=description if isinstance(description, str) else "",
                    hosts=(registration.person.name,),
                    host_ids=(registration.id,),
                    interest=0,
                    hosted=viewer == registration.id,
                )
            )
    views.sort(key=lambda v: (-v.interest, v.title.casefold(), v.key))
    return views
