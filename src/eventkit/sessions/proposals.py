"""Session proposals: their checked text, the registration form's ideas, proposing and withdrawing."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from eventkit.core.errors import UserError
from eventkit.core.tokens import new_nonce
from eventkit.core.validation import N_, Problems, ValidationFailed, clean_line, has_control
from eventkit.db.store import Event, Registration, SessionProposal
from eventkit.events.events import find_event
from eventkit.runtime import Runtime
from eventkit.sessions.grid import board_of, draft_data
from eventkit.sessions.participants import participant_registration, registered_ids

MAX_TITLE = 150
MAX_DESCRIPTION = 2000
TITLE_FIELD, DESCRIPTION_FIELD = "session_title", "session_description"  # BarCamp registration fields


class UnknownSession(LookupError, UserError):
    """No session with this id at this event (or it was withdrawn)."""

    message = N_("There is no such session (any more) at this event.")
    status = 404


def checked_text(problems: Problems, name: str, value: object, max_len: int, *, required: bool, one_line: bool) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.add(name, N_("is required"))
        return ""
    if not isinstance(value, str):
        problems.add(name, N_("must be a text"))
        return ""
    if one_line and has_control(value):
        problems.add(name, N_("contains a line break or control character"))
        return ""
    if not one_line and has_control(value.replace("\n", " ").replace("\r", " ").replace("\t", " ")):
        problems.add(name, N_("contains a control character"))
        return ""
    text = clean_line(value) if one_line else clean_line(value.replace("\r\n", "\n").replace("\r", "\n"))
    if len(text) > max_len:
        problems.add(name, N_("is too long (%(length)s characters, at most %(max)s)"), length=len(text), max=max_len)
        return ""
    return text


def check_proposal(title: object, description: object) -> tuple[str, str]:
    """A proposal's title (required, one line) and description (optional); ValidationFailed names the field."""
    problems = Problems()
    clean_title = checked_text(problems, "title", title, MAX_TITLE, required=True, one_line=True)
    clean_description = checked_text(
        problems, "description", description, MAX_DESCRIPTION, required=False, one_line=False
    )
    problems.raise_if_any()
    return clean_title, clean_description


def import_ideas(session: DbSession, event: Event) -> int:
    """Session ideas given at registration (by people with a place) become proposals, once each."""
    taken = set(
        session.scalars(
            select(SessionProposal.from_registration_id).where(
                SessionProposal.event_id == event.id, SessionProposal.from_registration_id.is_not(None)
            )
        )
    )
    rows = session.scalars(
        select(Registration)
        .where(Registration.event_id == event.id, Registration.status == "registered")
        .order_by(Registration.id)
    ).all()
    made = 0
    for registration in rows:
        answers = registration.answers or {}
        title = answers.get(TITLE_FIELD)
        if registration.id in taken or not isinstance(title, str) or not title.strip():
            continue
        try:
            clean_title, description = check_proposal(title[:MAX_TITLE], answers.get(DESCRIPTION_FIELD))
        except ValidationFailed:
            continue  # the registration form has checked these already; a stranger value is left out
        session.add(
            SessionProposal(
                event_id=event.id,
                title=clean_title,
                description=description,
                hosts=[registration.id],
                from_registration_id=registration.id,
                source="registration",
                status="open",
                notes_nonce=new_nonce(),
            )
        )
        made += 1
    session.flush()
    return made


def import_registration_ideas(rt: Runtime, slug: str) -> int:
    """Take the session ideas of the registration form onto the board (each once); returns how many are new."""
    with rt.store.session(write_lock=True) as session:
        return import_ideas(session, find_event(session, slug, lock=True))


def propose(rt: Runtime, slug: str, token: str, title: object, description: object) -> int:
    """A registered person proposes a session and hosts it; returns its id."""
    clean_title, clean_description = check_proposal(title, description)
    with rt.store.session(write_lock=True) as session:
        event = find_event(session, slug, lock=True)
        registration = participant_registration(session, rt, event, token)
        import_ideas(session, event)
        # the same title twice from one person (a form sent twice) is one proposal
        existing = session.scalar(
            select(SessionProposal).where(
                SessionProposal.event_id == event.id,
                SessionProposal.status == "open",
                SessionProposal.title == clean_title,
            )
        )
        if existing is not None and registration.id in (existing.hosts or []):
            return existing.id
        proposal = SessionProposal(
            event_id=event.id,
            title=clean_title,
            description=clean_description,
            hosts=[registration.id],
            source="board",
            status="open",
            notes_nonce=new_nonce(),
        )
        session.add(proposal)
        session.flush()
        return proposal.id


def propose_as_organiser(rt: Runtime, slug: str, title: object, description: object, hosts: Sequence[int]) -> int:
    """The organiser adds a session (e.g. one named on the day); hosts are registration ids of the event."""
    clean_title, clean_description = check_proposal(title, description)
    with rt.store.session(write_lock=True) as session:
        event = find_event(session, slug, lock=True)
        known = registered_ids(session, event.id)
        unknown = [h for h in hosts if h not in known]
        if unknown:
            problems = Problems()
            problems.add("hosts", N_("must be registered participants of the event"))
            problems.raise_if_any()
        proposal = SessionProposal(
            event_id=event.id,
            title=clean_title,
            description=clean_description,
            hosts=list(hosts),
            source="organiser",
            status="open",
            notes_nonce=new_nonce(),
        )
        session.add(proposal)
        session.flush()
        return proposal.id


def open_proposal(session: DbSession, event: Event, proposal_id: int) -> SessionProposal:
    proposal = session.get(SessionProposal, proposal_id)
    if proposal is None or proposal.event_id != event.id or proposal.status != "open":
        raise UnknownSession(str(proposal_id))
    return proposal


def is_active(proposal: SessionProposal, registered: set[int]) -> bool:
    """Open, and (if it has hosts) at least one host still has a place."""
    hosts = proposal.hosts or []
    return proposal.status == "open" and (not hosts or any(h in registered for h in hosts))


def withdraw(rt: Runtime, slug: str, proposal_id: int) -> None:
    """The organiser takes a session off the board (and out of the draft plan)."""
    with rt.store.session(write_lock=True) as session:
        event = find_event(session, slug, lock=True)
        proposal = open_proposal(session, event, proposal_id)
        proposal.status = "withdrawn"
        board_row = board_of(session, event)
        data = draft_data(board_row)
        data["placements"].pop(str(proposal.id), None)
        data["frozen"] = [f for f in data["frozen"] if f != str(proposal.id)]
        board_row.draft = data
