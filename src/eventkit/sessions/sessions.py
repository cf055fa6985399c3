"""BarCamp sessions and working groups: proposals, interest, the organiser's grid and plan, host notes, groups.

Participants act through their personal link (the registration's `manage` token): only people with a place
propose sessions and mark interest. The organiser sets the grid, asks eventkit.model.planner for a plan, moves
and freezes sessions, and publishes; a published plan is a numbered version that the plan page, the wall
poster, the emails and the recap read. Hosts write notes through a personal `notes` link per session.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as DbSession

from eventkit.core.errors import UserError
from eventkit.core.files import event_dir, write_atomic
from eventkit.core.i18n import LANGUAGES
from eventkit.core.tokens import new_nonce, signed_token, token_subject, verify_signed
from eventkit.core.validation import N_, Problem, Problems, ValidationFailed, clean_line, has_control
from eventkit.db.store import (
    Event,
    OutboxMessage,
    Person,
    Registration,
    SessionBoard,
    SessionInterest,
    SessionPlan,
    SessionProposal,
    WorkingGroupMember,
)
from eventkit.documents.pdf import SafeFetcher, print_environment, render_pdf
from eventkit.events.events import event_view, find_event, format_for, public_url
from eventkit.mail import outbox
from eventkit.mail.compose import Recipient, compose
from eventkit.model import planner
from eventkit.model.grid import (
    MAX_CAPACITY,
    MAX_ROOM_NAME,
    MAX_ROOMS,
    MAX_ROUNDS,
    RoomSpec,
    RoundSpec,
    SessionGrid,
    grid_from,
)
from eventkit.model.spec import EventSpec
from eventkit.model.values import clock_text, whole
from eventkit.registration.registrations import InvalidLink
from eventkit.runtime import Runtime

__all__ = [
    "KIND",
    "Draft",
    "InvalidBoardLink",
    "InvalidLink",
    "NoGrid",
    "NotPublished",
    "NotRegistered",
    "NothingToPublish",
    "PublishedPlan",
    "RoomSpec",
    "RoundSpec",
    "SessionGrid",
    "SessionView",
    "UnknownSession",
    "assign_working_groups",
    "board",
    "draft",
    "enqueue_plan_emails",
    "freeze",
    "grid_of",
    "import_registration_ideas",
    "move",
    "notes_link",
    "notes_session",
    "parse_grid_form",
    "participant",
    "plan",
    "plan_pdf",
    "propose",
    "publish",
    "published",
    "recap_sessions",
    "save_notes",
    "set_grid",
    "set_interest",
    "working_groups",
]

KIND = "session-plan"
MAX_TITLE = 150
MAX_DESCRIPTION = 2000
MAX_NOTES = 20_000
DEFAULT_TABLE_PLACES = 12  # per table, when the spec gives `tables` but no event capacity
TITLE_FIELD, DESCRIPTION_FIELD = "session_title", "session_description"  # BarCamp registration fields
GROUP_FIELDS = ("working_group_first", "working_group_second")  # Netzwerktreffen registration fields


class InvalidBoardLink(InvalidLink):
    """A personal link to the session board or to a session's notes that is not valid."""

    message = N_(
        "This personal link is not valid (any more). Please use the link from your most recent email, "
        "or open the session board from your personal registration page."
    )


class NotRegistered(PermissionError, UserError):
    """A valid personal link of someone without a place (waiting list, cancelled)."""

    message = N_("Only people with a place at the event can propose sessions and mark interest.")
    status = 403


class UnknownSession(LookupError, UserError):
    """No session with this id at this event (or it was withdrawn)."""

    message = N_("There is no such session (any more) at this event.")
    status = 404


class NotPublished(LookupError, UserError):
    """The event has no published session plan yet."""

    message = N_("The session plan has not been published yet.")
    status = 404


class NothingToPublish(NotPublished):
    """There is no draft plan to publish: the sessions have not been planned into the grid."""

    message = N_("There is no plan to publish yet: plan the sessions first.")
    status = 409


class NoGrid(LookupError, UserError):
    """The event has neither a grid set by the organiser nor one in its spec."""

    message = N_("Set the grid (rounds and rooms) first.")
    status = 409


# ------------------------------------------------------------------------------------------------ the grid


def spec_grid(spec: EventSpec) -> SessionGrid | None:
    """The grid an event spec gives: its `session_grid`, else `rounds` x `tables` (places shared out)."""
    raw = spec.extra.get("session_grid")
    if raw is not None:
        return grid_from(raw)
    rounds = whole(spec.extra.get("rounds"), 1, MAX_ROUNDS)
    tables = whole(spec.extra.get("tables"), 1, MAX_ROOMS)
    if rounds is None or tables is None:
        return None
    places = math.ceil(spec.capacity / tables) if spec.capacity else DEFAULT_TABLE_PLACES
    language = spec.language
    word = "Tisch" if language == "de" else "Table"
    return SessionGrid(
        rounds=tuple(RoundSpec() for _ in range(rounds)),
        rooms=tuple(RoomSpec(f"{word} {n}", places) for n in range(1, tables + 1)),
    )


_RANGE = re.compile(r"^\s*(\d{1,2}[:.]\d{2})\s*(?:Uhr)?\s*[-–—]+\s*(\d{1,2}[:.]\d{2})\s*(?:Uhr)?\s*$")


def _at_line(problems: Problems, name: str, line: int, message: str, **params: Any) -> None:
    """A problem in line `line` of a form's text box (Problems.add's own `line` is a file's line)."""
    problems.items.append(Problem(message, {"line": line, **params}, name))


def parse_grid_form(rounds_text: str, rooms_text: str) -> SessionGrid:
    """The organiser's grid form: one round per line ("16:50-17:50", or empty lines counted by a number)
    and one room per line ("Lesesaal, 20"). ValidationFailed names the field and the line."""
    problems = Problems()
    rounds: list[RoundSpec] = []
    lines = [line for line in (rounds_text or "").splitlines() if line.strip()]
    if len(lines) == 1 and lines[0].strip().isdigit():
        count = whole(lines[0], 1, MAX_ROUNDS)
        if count is None:
            problems.add("rounds", N_("must be a whole number from %(min)s to %(max)s"), min=1, max=MAX_ROUNDS)
        else:
            rounds = [RoundSpec() for _ in range(count)]
    else:
        for n, line in enumerate(lines, 1):
            match = _RANGE.match(line)
            start = clock_text(match.group(1)) if match else None
            end = clock_text(match.group(2)) if match else None
            if not match or start is None or end is None:
                _at_line(
                    problems,
                    "rounds",
                    n,
                    N_('line %(line)s: %(value)r is not a time span such as "16:50-17:50"'),
                    value=line.strip()[:60],
                )
            elif end <= start:
                _at_line(problems, "rounds", n, N_("line %(line)s: the end must be after the start"))
            else:
                rounds.append(RoundSpec(start, end))
        if not lines:
            problems.add("rounds", N_("is required"))
        elif len(lines) > MAX_ROUNDS:
            problems.add(
                "rounds", N_("has too many entries (%(length)s, at most %(max)s)"), length=len(lines), max=MAX_ROUNDS
            )
    rooms: list[RoomSpec] = []
    room_lines = [line for line in (rooms_text or "").splitlines() if line.strip()]
    if not room_lines:
        problems.add("rooms", N_("is required"))
    elif len(room_lines) > MAX_ROOMS:
        problems.add(
            "rooms", N_("has too many entries (%(length)s, at most %(max)s)"), length=len(room_lines), max=MAX_ROOMS
        )
    names: set[str] = set()
    for n, line in enumerate(room_lines, 1):
        name, sep, places = line.rpartition(",")
        if not sep:
            name, sep, places = line.rpartition(":")
        capacity = whole(places, 1, MAX_CAPACITY) if sep else None
        name = name.strip()
        if capacity is None or not name:
            _at_line(
                problems,
                "rooms",
                n,
                N_('line %(line)s: %(value)r is not a name and a number of places such as "Lesesaal, 20"'),
                value=line.strip()[:60],
            )
        elif has_control(name) or len(name) > MAX_ROOM_NAME:
            _at_line(problems, "rooms", n, N_("line %(line)s: the name is too long or contains control characters"))
        elif clean_line(name).casefold() in names:
            _at_line(problems, "rooms", n, N_("line %(line)s: %(value)r appears twice"), value=clean_line(name))
        else:
            names.add(clean_line(name).casefold())
            rooms.append(RoomSpec(clean_line(name), capacity))
    problems.raise_if_any()
    return SessionGrid(rounds=tuple(rounds), rooms=tuple(rooms))


# ------------------------------------------------------------------------------------------------ people


@dataclass(frozen=True)
class Participant:
    registration_id: int
    name: str
    language: str


def _participant(session: DbSession, rt: Runtime, event: Event, token: str) -> Registration:
    subject = token_subject(token or "")
    registration = session.get(Registration, subject) if subject is not None else None
    if (
        registration is None
        or registration.event_id != event.id
        or not verify_signed(rt.settings.secret_key, "manage", token, registration.id, registration.token_nonce)
    ):
        raise InvalidBoardLink(event.slug)
    if registration.status != "registered":
        raise NotRegistered(event.slug)
    return registration


def participant(rt: Runtime, slug: str, token: str) -> Participant:
    """The registered person a personal link belongs to; InvalidLink or NotRegistered otherwise."""
    with rt.store.session() as session:
        event = find_event(session, slug)
        registration = _participant(session, rt, event, token)
        person = registration.person
        return Participant(registration.id, person.name, person.language)


def _names(session: DbSession, registration_ids: Sequence[int]) -> dict[int, str]:
    if not registration_ids:
        return {}
    rows = session.execute(
        select(Registration.id, Person.name)
        .join(Person, Person.id == Registration.person_id)
        .where(Registration.id.in_(set(registration_ids)))
    )
    return {rid: name for rid, name in rows}


def _registered(session: DbSession, event_id: int) -> set[int]:
    return set(
        session.scalars(
            select(Registration.id).where(Registration.event_id == event_id, Registration.status == "registered")
        )
    )


# ------------------------------------------------------------------------------------------------ proposals


def _text(problems: Problems, name: str, value: object, max_len: int, *, required: bool, one_line: bool) -> str:
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
    clean_title = _text(problems, "title", title, MAX_TITLE, required=True, one_line=True)
    clean_description = _text(problems, "description", description, MAX_DESCRIPTION, required=False, one_line=False)
    problems.raise_if_any()
    return clean_title, clean_description


def _import_ideas(session: DbSession, event: Event) -> int:
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
        return _import_ideas(session, find_event(session, slug, lock=True))


def propose(rt: Runtime, slug: str, token: str, title: object, description: object) -> int:
    """A registered person proposes a session and hosts it; returns its id."""
    clean_title, clean_description = check_proposal(title, description)
    with rt.store.session(write_lock=True) as session:
        event = find_event(session, slug, lock=True)
        registration = _participant(session, rt, event, token)
        _import_ideas(session, event)
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
        known = _registered(session, event.id)
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


def _proposal(session: DbSession, event: Event, proposal_id: int) -> SessionProposal:
    proposal = session.get(SessionProposal, proposal_id)
    if proposal is None or proposal.event_id != event.id or proposal.status != "open":
        raise UnknownSession(str(proposal_id))
    return proposal


def _insert(session: DbSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def set_interest(rt: Runtime, slug: str, token: str, key: str, interested: bool) -> int:
    """Mark (or unmark) interest in a session; `key` is a session id, or "r<registration id>" for an idea
    from the registration form not yet on the board. Returns the session's id."""
    with rt.store.session(write_lock=True) as session:
        event = find_event(session, slug)
        registration = _participant(session, rt, event, token)
        proposal_id: int | None = None
        if key.startswith("r") and key[1:].isdigit() and len(key) < 19:
            _import_ideas(session, event)
            proposal_id = session.scalar(
                select(SessionProposal.id).where(
                    SessionProposal.event_id == event.id, SessionProposal.from_registration_id == int(key[1:])
                )
            )
        elif key.isdigit() and len(key) < 19:
            proposal_id = int(key)
        if proposal_id is None:
            raise UnknownSession(key[:40])
        proposal = _proposal(session, event, proposal_id)
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


def withdraw(rt: Runtime, slug: str, proposal_id: int) -> None:
    """The organiser takes a session off the board (and out of the draft plan)."""
    with rt.store.session(write_lock=True) as session:
        event = find_event(session, slug, lock=True)
        proposal = _proposal(session, event, proposal_id)
        proposal.status = "withdrawn"
        board_row = _board(session, event)
        data = _draft_data(board_row)
        data["placements"].pop(str(proposal.id), None)
        data["frozen"] = [f for f in data["frozen"] if f != str(proposal.id)]
        board_row.draft = data


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


def _active(proposal: SessionProposal, registered: set[int]) -> bool:
    """Open, and (if it has hosts) at least one host still has a place."""
    hosts = proposal.hosts or []
    return proposal.status == "open" and (not hosts or any(h in registered for h in hosts))


def board(rt: Runtime, slug: str, viewer: int | None = None) -> list[SessionView]:
    """The sessions of the board (read only): proposals, and registration ideas not yet taken over, with
    their interest counts; `viewer` (a registration id) gets their own marks. Most interest first."""
    with rt.store.session() as session:
        event = find_event(session, slug)
        registered = _registered(session, event.id)
        proposals = [
            p
            for p in session.scalars(select(SessionProposal).where(SessionProposal.event_id == event.id))
            if _active(p, registered)
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
        names = _names(session, [h for p in proposals for h in p.hosts or []])
        board_row = session.scalar(select(SessionBoard).where(SessionBoard.event_id == event.id))
        data = _draft_data(board_row)
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
                slot=_slot(data["placements"].get(str(p.id))),
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


# ------------------------------------------------------------------------------------------------ the plan


def _slot(value: Any) -> planner.Slot | None:
    if isinstance(value, dict) and isinstance(value.get("round"), int) and isinstance(value.get("room"), str):
        return planner.Slot(value["round"], value["room"])
    return None


def _draft_data(board_row: SessionBoard | None) -> dict[str, Any]:
    data = dict(board_row.draft or {}) if board_row is not None else {}
    return {"placements": dict(data.get("placements") or {}), "frozen": list(data.get("frozen") or [])}


def _board(session: DbSession, event: Event) -> SessionBoard:
    row = session.scalar(select(SessionBoard).where(SessionBoard.event_id == event.id))
    if row is None:
        row = SessionBoard(event_id=event.id, grid=None, draft={"placements": {}, "frozen": []}, outcome=None)
        session.add(row)
        session.flush()
    return row


def _grid(event: Event, board_row: SessionBoard | None) -> SessionGrid | None:
    if board_row is not None and board_row.grid:
        return SessionGrid.from_data(board_row.grid)
    return spec_grid(EventSpec.from_data(event.spec))


def grid_of(rt: Runtime, slug: str) -> SessionGrid | None:
    """The event's grid: as the organiser set it, else as the spec gives it (None: no grid yet)."""
    with rt.store.session() as session:
        event = find_event(session, slug)
        return _grid(event, session.scalar(select(SessionBoard).where(SessionBoard.event_id == event.id)))


def set_grid(rt: Runtime, slug: str, grid: SessionGrid) -> None:
    """Set the grid; placements that no longer exist in it go back to the unplaced sessions."""
    with rt.store.session(write_lock=True) as session:
        event = find_event(session, slug, lock=True)
        row = _board(session, event)
        row.grid = grid.to_data()
        data = _draft_data(row)
        data["placements"] = {
            k: v for k, v in data["placements"].items() if (s := _slot(v)) is not None and grid.has(s.round, s.room)
        }
        data["frozen"] = [f for f in data["frozen"] if f in data["placements"]]
        row.draft = data
        row.outcome = None


@dataclass(frozen=True)
class Draft:
    grid: SessionGrid | None
    sessions: list[SessionView]
    placements: dict[int, planner.Slot]
    frozen: frozenset[int]
    reasons: tuple[planner.Reason, ...]
    served: int | None
    interest: int | None


def _problem(session: DbSession, event: Event) -> tuple[list[planner.Session], dict[str, list[str]], list[int]]:
    """The planner's input: active sessions, hosts and interest keyed by person (their name, which the
    planner's explanations show; with the registration id where two people share a name)."""
    registered = _registered(session, event.id)
    proposals = [
        p
        for p in session.scalars(select(SessionProposal).where(SessionProposal.event_id == event.id))
        if _active(p, registered)
    ]
    names = _names(session, sorted(registered | {h for p in proposals for h in p.hosts or []}))
    counts: dict[str, int] = {}
    for name in names.values():
        counts[name] = counts.get(name, 0) + 1

    def person(registration_id: int) -> str:
        name = names.get(registration_id, "")
        return name if name and counts[name] == 1 else f"{name} ({registration_id})".strip()

    sessions = [planner.Session(str(p.id), p.title, tuple(person(h) for h in p.hosts or [])) for p in proposals]
    ids = {p.id for p in proposals}
    interest: dict[str, list[str]] = {}
    for proposal_id, registration_id in session.execute(
        select(SessionInterest.proposal_id, SessionInterest.registration_id)
        .join(SessionProposal, SessionProposal.id == SessionInterest.proposal_id)
        .where(SessionProposal.event_id == event.id)
        .order_by(SessionInterest.id)
    ):
        if proposal_id in ids and registration_id in registered:
            interest.setdefault(person(registration_id), []).append(str(proposal_id))
    return sessions, interest, sorted(ids)


def _reasons_data(plan_result: planner.Plan) -> dict[str, Any]:
    return {
        "reasons": [{"code": r.code, "params": dict(r.params)} for r in plan_result.reasons],
        "served": plan_result.served,
        "interest": plan_result.interest,
    }


def plan(rt: Runtime, slug: str, *, effort: int = planner.DEFAULT_EFFORT) -> planner.Plan:
    """Plan the sessions into the grid (frozen ones stay where they are) and keep it as the draft."""
    with rt.store.session(write_lock=True) as session:
        event = find_event(session, slug, lock=True)
        _import_ideas(session, event)
        row = _board(session, event)
        grid = _grid(event, row)
        if grid is None:
            raise NoGrid(slug)
        sessions, interest, ids = _problem(session, event)
        data = _draft_data(row)
        frozen = {
            f: s
            for f in data["frozen"]
            if f.isdigit() and int(f) in ids and (s := _slot(data["placements"].get(f))) is not None
        }
    # the search runs outside the transaction: a plan of 100 sessions takes a second or two
    result = planner.plan_sessions(sessions, interest, grid.to_planner(), frozen, effort=effort)
    with rt.store.session(write_lock=True) as session:
        event = find_event(session, slug, lock=True)
        row = _board(session, event)
        row.draft = {
            "placements": {k: {"round": s.round, "room": s.room} for k, s in result.placements.items()},
            "frozen": [f for f in frozen if f in result.placements],
        }
        row.outcome = _reasons_data(result)
    return result


def _reevaluate(session: DbSession, event: Event, row: SessionBoard) -> planner.Plan | None:
    grid = _grid(event, row)
    if grid is None:
        return None
    sessions, interest, ids = _problem(session, event)
    data = _draft_data(row)
    placements = {
        k: s for k, v in data["placements"].items() if k.isdigit() and int(k) in ids and (s := _slot(v)) is not None
    }
    result = planner.evaluate_plan(sessions, interest, grid.to_planner(), placements)
    row.outcome = _reasons_data(result)
    return result


def move(
    rt: Runtime, slug: str, proposal_id: int, round_index: int | None, room: str | None, *, freeze: bool = True
) -> planner.Plan | None:
    """Move a session by hand to (round from 0, room), or out of the plan (None); a session that was in
    the target place swaps with it. A moved session is frozen unless freeze=False. Returns the plan's
    new evaluation (explanations included)."""
    with rt.store.session(write_lock=True) as session:
        event = find_event(session, slug, lock=True)
        proposal = _proposal(session, event, proposal_id)
        row = _board(session, event)
        grid = _grid(event, row)
        if round_index is not None or room is not None:
            if grid is None or round_index is None or room is None or not grid.has(round_index, room):
                problems = Problems()
                problems.add("slot", N_("is not a place in the grid"))
                problems.raise_if_any()
        data = _draft_data(row)
        key = str(proposal.id)
        old = data["placements"].pop(key, None)
        if round_index is not None and room is not None:
            target = {"round": round_index, "room": room}
            other = next((k for k, v in data["placements"].items() if v == target), None)
            if other is not None:
                data["placements"].pop(other)
                if old is not None:
                    data["placements"][other] = old
                else:
                    data["frozen"] = [f for f in data["frozen"] if f != other]
            data["placements"][key] = target
        data["frozen"] = [f for f in data["frozen"] if f != key]
        if freeze and key in data["placements"]:
            data["frozen"].append(key)
        row.draft = data
        return _reevaluate(session, event, row)


def freeze(rt: Runtime, slug: str, proposal_id: int, frozen: bool) -> None:
    """Freeze a placed session where it is (replanning keeps it), or let the planner move it again."""
    with rt.store.session(write_lock=True) as session:
        event = find_event(session, slug, lock=True)
        proposal = _proposal(session, event, proposal_id)
        row = _board(session, event)
        data = _draft_data(row)
        key = str(proposal.id)
        if frozen and key not in data["placements"]:
            problems = Problems()
            problems.add("session", N_("must be placed in the grid before it can be frozen"))
            problems.raise_if_any()
        data["frozen"] = [f for f in data["frozen"] if f != key] + ([key] if frozen else [])
        row.draft = data


def draft(rt: Runtime, slug: str) -> Draft:
    """The organiser's working plan: grid, sessions with places, frozen ones, the last explanations."""
    views = board(rt, slug)
    with rt.store.session() as session:
        event = find_event(session, slug)
        row = session.scalar(select(SessionBoard).where(SessionBoard.event_id == event.id))
        grid = _grid(event, row)
        data = _draft_data(row)
        outcome = (row.outcome if row is not None else None) or {}
    placements = {int(k): s for k, v in data["placements"].items() if k.isdigit() and (s := _slot(v)) is not None}
    reasons = tuple(planner.Reason(r["code"], r.get("params") or {}) for r in outcome.get("reasons", []))
    return Draft(
        grid,
        views,
        placements,
        frozenset(int(f) for f in data["frozen"] if f.isdigit()),
        reasons,
        outcome.get("served"),
        outcome.get("interest"),
    )


# ------------------------------------------------------------------------------------------------ publishing


@dataclass(frozen=True)
class PlanEntry:
    id: int
    round: int  # from 0
    room: str
    title: str
    description: str
    hosts: tuple[str, ...]
    host_ids: tuple[int, ...]


@dataclass(frozen=True)
class PublishedPlan:
    version: int
    published_at: datetime
    grid: SessionGrid
    entries: tuple[PlanEntry, ...]
    by_slot: dict[tuple[int, str], PlanEntry] = field(default_factory=dict)

    def cell(self, round_index: int, room: str) -> PlanEntry | None:
        return self.by_slot.get((round_index, room))


def _published(row: SessionPlan) -> PublishedPlan:
    content = row.content
    grid = SessionGrid.from_data(content["grid"])
    entries = tuple(
        PlanEntry(
            e["id"],
            e["round"],
            e["room"],
            e["title"],
            e.get("description", ""),
            tuple(e.get("hosts", [])),
            tuple(e.get("host_ids", [])),
        )
        for e in content["entries"]
    )
    return PublishedPlan(row.version, row.published_at, grid, entries, {(e.round, e.room): e for e in entries})


def publish(rt: Runtime, slug: str, *, now: datetime | None = None) -> PublishedPlan:
    """Publish the draft as the next version (unchanged since the last one: that one stays)."""
    now = now or datetime.now(UTC)
    with rt.store.session(write_lock=True) as session:
        event = find_event(session, slug, lock=True)
        row = _board(session, event)
        grid = _grid(event, row)
        data = _draft_data(row)
        if grid is None or not data["placements"]:
            raise NothingToPublish(slug)
        registered = _registered(session, event.id)
        proposals = {
            p.id: p
            for p in session.scalars(select(SessionProposal).where(SessionProposal.event_id == event.id))
            if _active(p, registered)
        }
        names = _names(session, [h for p in proposals.values() for h in p.hosts or []])
        entries = []
        for key, value in sorted(data["placements"].items(), key=lambda kv: (kv[1]["round"], kv[1]["room"])):
            slot = _slot(value)
            if not key.isdigit() or int(key) not in proposals or slot is None or not grid.has(slot.round, slot.room):
                continue
            p = proposals[int(key)]
            entries.append(
                {
                    "id": p.id,
                    "round": slot.round,
                    "room": slot.room,
                    "title": p.title,
                    "description": p.description or "",
                    "hosts": [names[h] for h in p.hosts or [] if h in names],
                    "host_ids": list(p.hosts or []),
                }
            )
        content = {"grid": grid.to_data(), "entries": entries}
        latest = session.scalar(
            select(SessionPlan).where(SessionPlan.event_id == event.id).order_by(SessionPlan.version.desc()).limit(1)
        )
        if latest is not None and latest.content == content:
            return _published(latest)
        version = (latest.version if latest is not None else 0) + 1
        new = SessionPlan(event_id=event.id, version=version, content=content, published_at=now)
        session.add(new)
        session.flush()
        return _published(new)


def published(rt: Runtime, slug: str) -> PublishedPlan | None:
    """The newest published plan, or None."""
    with rt.store.session() as session:
        event = find_event(session, slug)
        row = session.scalar(
            select(SessionPlan).where(SessionPlan.event_id == event.id).order_by(SessionPlan.version.desc()).limit(1)
        )
        return _published(row) if row is not None else None


def plan_view(plan_: PublishedPlan, spec: EventSpec) -> SimpleNamespace:
    """What the plan page, the poster and the email show: rounds with times, rooms, the cell per slot."""
    rounds = [SimpleNamespace(index=i, number=i + 1, start=r.start, end=r.end) for i, r in enumerate(plan_.grid.rounds)]
    return SimpleNamespace(
        version=plan_.version,
        published_at=plan_.published_at.astimezone(spec.start.tzinfo),
        rounds=rounds,
        rooms=list(plan_.grid.rooms),
        cell=plan_.cell,
        entries=plan_.entries,
        by_round=[[e for e in plan_.entries if e.round == r.index] for r in rounds],
    )


def plan_pdf(rt: Runtime, slug: str, language: str | None = None, *, out: Path | None = None) -> Path:
    """The published plan as a landscape wall poster (A3), cached per plan version and language."""
    plan_ = published(rt, slug)
    if plan_ is None:
        raise NotPublished(slug)
    with rt.store.session() as session:
        event = find_event(session, slug)
        spec = EventSpec.from_data(event.spec)
        # a changed event (a new title or venue) makes a new poster of the same plan version
        stamp = int(event.updated_at.timestamp())
    language = language if language in LANGUAGES else spec.language
    folder = event_dir(rt.settings, slug)
    target = out or folder / f"session-plan-{slug}-v{plan_.version}-{language}-{stamp}.pdf"
    if out is None and target.is_file():
        return target
    fmt = format_for(rt.settings, spec.format)
    env = print_environment(rt.settings, spec.format, language)
    html = env.get_template("print/session-plan.html").render(
        event=event_view(spec, fmt),
        format=SimpleNamespace(name=fmt.name, title=fmt.title.get(language)),
        plan=plan_view(plan_, spec),
        plan_url=f"{public_url(rt.settings, slug)}/plan",
    )
    roots = [rt.settings.template_dir]
    data = render_pdf(html, base_dir=rt.settings.template_dir, allowed_roots=roots, fetcher=SafeFetcher(roots))
    return write_atomic(target, data)


# ------------------------------------------------------------------------------------------------ emails


def plan_key(event: Event, person_id: int, version: int) -> str:
    # once per person and published version: a corrected plan goes out again, the same one never twice
    return f"{event.id}:{person_id}:{KIND}:{version}"


def enqueue_plan_emails(rt: Runtime, slug: str, *, now: datetime | None = None, batch: int = 50) -> dict[str, int]:
    """Put the published plan into the outbox for every registered person, once per plan version: the whole
    plan, the sessions they marked, and for hosts the personal link for their notes."""
    now = now or datetime.now(UTC)
    plan_ = published(rt, slug)
    if plan_ is None:
        raise NotPublished(slug)
    with rt.store.session() as session:
        event = find_event(session, slug)
        session.expunge(event)
        spec = EventSpec.from_data(event.spec)
        people = session.execute(
            select(Registration, Person)
            .join(Person, Person.id == Registration.person_id)
            .where(Registration.event_id == event.id, Registration.status == "registered")
            .order_by(Registration.id)
        ).all()
        marks: dict[int, set[int]] = {}
        for proposal_id, registration_id in session.execute(
            select(SessionInterest.proposal_id, SessionInterest.registration_id)
            .join(SessionProposal, SessionProposal.id == SessionInterest.proposal_id)
            .where(SessionProposal.event_id == event.id)
        ):
            marks.setdefault(registration_id, set()).add(proposal_id)
        nonces: dict[int, str] = dict(
            session.execute(  # type: ignore[arg-type]
                select(SessionProposal.id, SessionProposal.notes_nonce).where(
                    SessionProposal.id.in_([e.id for e in plan_.entries])
                )
            ).all()
        )
        keys = {plan_key(event, person.id, plan_.version): (registration, person) for registration, person in people}
        existing = set(
            session.scalars(select(OutboxMessage.idempotency_key).where(OutboxMessage.idempotency_key.in_(list(keys))))
        )
        people_data = [
            (key, r.id, r.token_nonce, p.id, p.name, p.email, p.organisation, p.language)
            for key, (r, p) in keys.items()
            if key not in existing
        ]
    result = {"plan": 0, "already": len(keys) - len(people_data), "version": plan_.version}
    fmt = format_for(rt.settings, spec.format)
    base = rt.settings.base_url
    shared: dict[str, dict[str, Any]] = {}
    view = plan_view(plan_, spec)
    for start in range(0, len(people_data), batch):
        rows = []
        for key, registration_id, nonce, person_id, name, email, organisation, person_language in people_data[
            start : start + batch
        ]:
            language = person_language if person_language in LANGUAGES else spec.language
            recipient = Recipient(name, email, organisation, language)
            manage = signed_token(rt.settings.secret_key, "manage", registration_id, nonce)
            hosted = [e for e in plan_.entries if registration_id in e.host_ids]
            wanted = [e for e in plan_.entries if e.id in marks.get(registration_id, set()) and e not in hosted]
            context = {
                "event": event_view(spec, fmt),
                "format": SimpleNamespace(name=fmt.name, title=fmt.title.get(language)),
                "recipient": recipient,
                "links": SimpleNamespace(
                    event=public_url(rt.settings, slug),
                    plan=f"{base}/e/{slug}/plan",
                    poster=f"{base}/e/{slug}/plan.pdf",
                    board=f"{base}/e/{slug}/sessions?t={manage}",
                    manage=f"{base}/e/{slug}/manage?t={manage}",
                ),
                "plan": view,
                "mine": SimpleNamespace(
                    hosted=[
                        SimpleNamespace(
                            entry=e, round=view.rounds[e.round], notes=_notes_url(rt, slug, e.id, nonces[e.id])
                        )
                        for e in hosted
                        if e.id in nonces
                    ],
                    wanted=[SimpleNamespace(entry=e, round=view.rounds[e.round]) for e in wanted],
                ),
            }
            row = compose(
                settings=rt.settings,
                renderer=rt.renderer,
                format_name=fmt.name,
                template=KIND,
                recipient=recipient,
                context=context,
                organiser=(spec.organiser.name, spec.organiser.email),
                idempotency_key=key,
                event_id=event.id,
                person_id=person_id,
                now=now,
                shared=shared.setdefault(language, {}),
            )
            row["registration_id"] = registration_id
            row["params"] = {"version": plan_.version}
            rows.append(row)
        with rt.store.session() as session:
            # a second sender at the same moment (two clicks) may have written some: those are left out
            taken = set(
                session.scalars(
                    select(OutboxMessage.idempotency_key).where(
                        OutboxMessage.idempotency_key.in_([r["idempotency_key"] for r in rows])
                    )
                )
            )
            fresh = [r for r in rows if r["idempotency_key"] not in taken]
            outbox.enqueue(session, fresh)
        result["plan"] += len(fresh)
        result["already"] += len(rows) - len(fresh)
    return result


# ------------------------------------------------------------------------------------------------ notes


def _notes_url(rt: Runtime, slug: str, proposal_id: int, nonce: str) -> str:
    token = signed_token(rt.settings.secret_key, "notes", proposal_id, nonce)
    return f"{rt.settings.base_url}/e/{slug}/sessions/{proposal_id}/notes?t={token}"


def notes_link(rt: Runtime, slug: str, proposal_id: int) -> str:
    """The personal link to a session's notes page (for its hosts, and for the organiser)."""
    with rt.store.session() as session:
        event = find_event(session, slug)
        proposal = _proposal(session, event, proposal_id)
        return _notes_url(rt, slug, proposal.id, proposal.notes_nonce)


def _by_notes_token(session: DbSession, rt: Runtime, slug: str, proposal_id: int, token: str) -> SessionProposal:
    event = find_event(session, slug)
    proposal = session.get(SessionProposal, proposal_id)
    if (
        proposal is None
        or proposal.event_id != event.id
        or proposal.status != "open"
        or token_subject(token or "") != proposal_id
        or not verify_signed(rt.settings.secret_key, "notes", token, proposal.id, proposal.notes_nonce)
    ):
        raise InvalidBoardLink(slug)
    return proposal


def notes_session(rt: Runtime, slug: str, proposal_id: int, token: str) -> SessionView:
    """The session a notes link is for (read only); InvalidLink for any other link."""
    with rt.store.session() as session:
        proposal = _by_notes_token(session, rt, slug, proposal_id, token)
        names = _names(session, proposal.hosts or [])
        return SessionView(
            key=str(proposal.id),
            id=proposal.id,
            title=proposal.title,
            description=proposal.description or "",
            hosts=tuple(names[h] for h in proposal.hosts or [] if h in names),
            host_ids=tuple(proposal.hosts or []),
            interest=0,
            notes=proposal.notes or "",
        )


def save_notes(rt: Runtime, slug: str, proposal_id: int, token: str, text: object) -> None:
    """Keep a session's notes (Markdown); ValidationFailed names the field `notes`."""
    problems = Problems()
    notes = _text(problems, "notes", text, MAX_NOTES, required=False, one_line=False)
    problems.raise_if_any()
    with rt.store.session(write_lock=True) as session:
        proposal = _by_notes_token(session, rt, slug, proposal_id, token)
        proposal.notes = notes or None


def recap_sessions(rt: Runtime, slug: str) -> list[dict[str, Any]]:
    """The published grid with the hosts' notes, in the shape of the recap input's `sessions` (round and
    table counted from 1); empty without a published plan."""
    plan_ = published(rt, slug)
    if plan_ is None:
        return []
    with rt.store.session() as session:
        notes: dict[int, str | None] = dict(
            session.execute(  # type: ignore[arg-type]
                select(SessionProposal.id, SessionProposal.notes).where(
                    SessionProposal.id.in_([e.id for e in plan_.entries])
                )
            ).all()
        )
    return [
        {
            "round": e.round + 1,
            "table": plan_.grid.table_number(e.room),
            "title": e.title,
            "host": ", ".join(e.hosts),
            "notes": notes.get(e.id) or "",
        }
        for e in sorted(plan_.entries, key=lambda e: (e.round, plan_.grid.table_number(e.room)))
    ]


# ------------------------------------------------------------------------------------------------ working groups


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
