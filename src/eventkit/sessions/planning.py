"""The organiser's draft plan: planning the sessions into the grid, moving and freezing them by hand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from eventkit.core.validation import N_, Problems
from eventkit.db.store import Event, SessionBoard, SessionInterest, SessionProposal
from eventkit.events.events import find_event
from eventkit.model import planner
from eventkit.model.grid import SessionGrid
from eventkit.runtime import Runtime
from eventkit.sessions.board import SessionView, board
from eventkit.sessions.grid import NoGrid, board_of, draft_data, grid_for, slot_of
from eventkit.sessions.participants import names_of, registered_ids
from eventkit.sessions.proposals import import_ideas, is_active, open_proposal


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
    registered = registered_ids(session, event.id)
    proposals = [
        p
        for p in session.scalars(select(SessionProposal).where(SessionProposal.event_id == event.id))
        if is_active(p, registered)
    ]
    names = names_of(session, sorted(registered | {h for p in proposals for h in p.hosts or []}))
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
        import_ideas(session, event)
        row = board_of(session, event)
        grid = grid_for(event, row)
        if grid is None:
            raise NoGrid(slug)
        sessions, interest, ids = _problem(session, event)
        data = draft_data(row)
        frozen = {
            f: s
            for f in data["frozen"]
            if f.isdigit() and int(f) in ids and (s := slot_of(data["placements"].get(f))) is not None
        }
    # the search runs outside the transaction: a plan of 100 sessions takes a second or two
    result = planner.plan_sessions(sessions, interest, grid.to_planner(), frozen, effort=effort)
    with rt.store.session(write_lock=True) as session:
        event = find_event(session, slug, lock=True)
        row = board_of(session, event)
        row.draft = {
            "placements": {k: {"round": s.round, "room": s.room} for k, s in result.placements.items()},
            "frozen": [f for f in frozen if f in result.placements],
        }
        row.outcome = _reasons_data(result)
    return result


def _reevaluate(session: DbSession, event: Event, row: SessionBoard) -> planner.Plan | None:
    grid = grid_for(event, row)
    if grid is None:
        return None
    sessions, interest, ids = _problem(session, event)
    data = draft_data(row)
    placements = {
        k: s for k, v in data["placements"].items() if k.isdigit() and int(k) in ids and (s := slot_of(v)) is not None
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
        proposal = open_proposal(session, event, proposal_id)
        row = board_of(session, event)
        grid = grid_for(event, row)
        if round_index is not None or room is not None:
            if grid is None or round_index is None or room is None or not grid.has(round_index, room):
                problems = Problems()
                problems.add("slot", N_("is not a place in the grid"))
                problems.raise_if_any()
        data = draft_data(row)
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
        proposal = open_proposal(session, event, proposal_id)
        row = board_of(session, event)
        data = draft_data(row)
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
        grid = grid_for(event, row)
        data = draft_data(row)
        outcome = (row.outcome if row is not None else None) or {}
    placements = {int(k): s for k, v in data["placements"].items() if k.isdigit() and (s := slot_of(v)) is not None}
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
