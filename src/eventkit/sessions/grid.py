"""The session grid (from the spec or the organiser's form) and the board row that keeps it with the draft."""

from __future__ import annotations

import math
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from eventkit.core.errors import UserError
from eventkit.core.validation import N_, Problem, Problems, clean_line, has_control
from eventkit.db.store import Event, SessionBoard
from eventkit.events.events import find_event
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
from eventkit.runtime import Runtime

DEFAULT_TABLE_PLACES = 12  # per table, when the spec gives `tables` but no event capacity


class NoGrid(LookupError, UserError):
    """The event has neither a grid set by the organiser nor one in its spec."""

    message = N_("Set the grid (rounds and rooms) first.")
    status = 409


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


def slot_of(value: Any) -> planner.Slot | None:
    if isinstance(value, dict) and isinstance(value.get("round"), int) and isinstance(value.get("room"), str):
        return planner.Slot(value["round"], value["room"])
    return None


def draft_data(board_row: SessionBoard | None) -> dict[str, Any]:
    data = dict(board_row.draft or {}) if board_row is not None else {}
    return {"placements": dict(data.get("placements") or {}), "frozen": list(data.get("frozen") or [])}


def board_of(session: DbSession, event: Event) -> SessionBoard:
    row = session.scalar(select(SessionBoard).where(SessionBoard.event_id == event.id))
    if row is None:
        row = SessionBoard(event_id=event.id, grid=None, draft={"placements": {}, "frozen": []}, outcome=None)
        session.add(row)
        session.flush()
    return row


def grid_for(event: Event, board_row: SessionBoard | None) -> SessionGrid | None:
    if board_row is not None and board_row.grid:
        return SessionGrid.from_data(board_row.grid)
    return spec_grid(EventSpec.from_data(event.spec))


def grid_of(rt: Runtime, slug: str) -> SessionGrid | None:
    """The event's grid: as the organiser set it, else as the spec gives it (None: no grid yet)."""
    with rt.store.session() as session:
        event = find_event(session, slug)
        return grid_for(event, session.scalar(select(SessionBoard).where(SessionBoard.event_id == event.id)))


def set_grid(rt: Runtime, slug: str, grid: SessionGrid) -> None:
    """Set the grid; placements that no longer exist in it go back to the unplaced sessions."""
    with rt.store.session(write_lock=True) as session:
        event = find_event(session, slug, lock=True)
        row = board_of(session, event)
        row.grid = grid.to_data()
        data = draft_data(row)
        data["placements"] = {
            k: v for k, v in data["placements"].items() if (s := slot_of(v)) is not None and grid.has(s.round, s.room)
        }
        data["frozen"] = [f for f in data["frozen"] if f in data["placements"]]
        row.draft = data
        row.outcome = None
