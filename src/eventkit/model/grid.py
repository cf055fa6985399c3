"""The session grid of a BarCamp: its rounds (a number, or times) and its rooms or tables with their places."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from eventkit.core.errors import N_
from eventkit.core.validation import clean_line, has_control
from eventkit.model import planner
from eventkit.model.base import UNSET, Check, Form, Found, given, problem, raw
from eventkit.model.values import clock_text, whole

MAX_ROUNDS = 20
MAX_ROOMS = 60
MAX_CAPACITY = 10_000
MAX_ROOM_NAME = 100


@dataclass(frozen=True)
class RoundSpec:
    start: str = ""  # "16:50", or "" when the grid has no times
    end: str = ""


@dataclass(frozen=True)
class RoomSpec:
    name: str
    capacity: int
    unavailable: tuple[int, ...] = ()  # rounds counted from 1, as organisers count them


def room_name(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise problem(N_("is required"))
    if has_control(value):
        raise problem(N_("must be a single line without control characters"))
    name = clean_line(value)
    if len(name) > MAX_ROOM_NAME:
        raise problem(N_("is too long (%(length)s characters, at most %(max)s)"), length=len(name), max=MAX_ROOM_NAME)
    return name


def _round(item: Any, found: Found, i: int) -> RoundSpec | None:
    if not isinstance(item, Mapping):
        found.add((i,), N_('must be a mapping with start and end, e.g. {start: "16:50", end: "17:50"}'))
        return None
    start, end = clock_text(item.get("start")), clock_text(item.get("end"))
    if start is None:
        found.add((i, "start"), N_('%(value)r is not a time of day (expected e.g. "12:00")'), value=item.get("start"))
    if end is None:
        found.add((i, "end"), N_('%(value)r is not a time of day (expected e.g. "12:00")'), value=item.get("end"))
    if start and end and end <= start:
        found.add((i, "end"), N_("must be after the start (%(start)s)"), start=start)
    return RoundSpec(start, end) if start and end else None


def _made(value: Any, kind: type) -> bool:
    """A tuple of values eventkit made itself (from counts, a form or the store), taken as it is."""
    return isinstance(value, tuple) and all(isinstance(v, kind) for v in value)


def _rounds(value: Any) -> tuple[RoundSpec, ...]:
    value = raw(value)
    if _made(value, RoundSpec):
        return tuple(value)
    count = whole(value, 1, MAX_ROUNDS)
    if count is not None:
        return tuple(RoundSpec() for _ in range(count))
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ROUNDS:
        raise problem(
            N_("must be a number of rounds or a list of rounds with start and end (1 to %(max)s)"), max=MAX_ROUNDS
        )
    found = Found()
    rounds = [_round(item, found, i) for i, item in enumerate(value)]
    found.raise_if_any()
    return tuple(r for r in rounds if r is not None)


def _capacity(value: Any) -> int:
    capacity = whole(value, 1, MAX_CAPACITY)
    if capacity is None:
        raise problem(N_("must be a whole number from %(min)s to %(max)s"), min=1, max=MAX_CAPACITY)
    return capacity


def _room(item: Any, found: Found, i: int, names: set[str]) -> RoomSpec | None:
    if not isinstance(item, Mapping):
        found.add((i,), N_("must be a mapping with name and capacity, e.g. {name: Lesesaal, capacity: 20}"))
        return None
    name: str | None = None
    try:
        name = room_name(item.get("name"))
    except PydanticCustomError as exc:
        found.add_problem((i, "name"), exc)
    if name and name.casefold() in names:
        found.add((i, "name"), N_("%(value)r appears twice"), value=name)
        name = None
    capacity: int | None = None
    try:
        capacity = _capacity(item.get("capacity"))
    except PydanticCustomError as exc:
        found.add_problem((i, "capacity"), exc)
    unavailable = item.get("unavailable") or []
    if not isinstance(unavailable, list) or any(whole(u, 1, MAX_ROUNDS) is None for u in unavailable):
        found.add((i, "unavailable"), N_("must be a list of round numbers, counting from 1"))
        unavailable = []
    if not (name and capacity):
        return None
    names.add(name.casefold())
    return RoomSpec(name, capacity, tuple(sorted({int(u) for u in unavailable})))


def _rooms(value: Any) -> tuple[RoomSpec, ...]:
    value = raw(value)
    if _made(value, RoomSpec):
        return tuple(value)
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ROOMS:
        raise problem(N_("must be a list of rooms or tables with name and capacity (1 to %(max)s)"), max=MAX_ROOMS)
    found, names = Found(), set[str]()
    rooms = [_room(item, found, i, names) for i, item in enumerate(value)]
    found.raise_if_any()
    return tuple(r for r in rooms if r is not None)


class SessionGrid(Form):
    """The rounds and rooms the BarCamp planner fills: `rounds` (a number, or a list of {start, end}) and
    `rooms` (a list of {name, capacity, unavailable: [round, ...]})."""

    not_a_mapping = N_("must be a mapping with rounds and rooms")
    must_have = ("rounds", "rooms")

    rounds: Annotated[tuple[RoundSpec, ...], Check(_rounds, int | list[RoundSpec])] = given(
        description="The number of rounds, or each round with its start and end"
    )
    rooms: Annotated[tuple[RoomSpec, ...], Check(_rooms, list[RoomSpec])] = given(
        description="The rooms or tables, with their places and the rounds they are not free"
    )

    def to_data(self) -> dict[str, Any]:
        return {
            "rounds": [{"start": r.start, "end": r.end} for r in self.rounds],
            "rooms": [{"name": r.name, "capacity": r.capacity, "unavailable": list(r.unavailable)} for r in self.rooms],
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> SessionGrid:
        return cls(
            rounds=tuple(RoundSpec(str(r.get("start") or ""), str(r.get("end") or "")) for r in data.get("rounds", [])),
            rooms=tuple(
                RoomSpec(str(r["name"]), int(r["capacity"]), tuple(int(u) for u in r.get("unavailable") or ()))
                for r in data.get("rooms", [])
            ),
        )

    def to_planner(self) -> planner.Grid:
        rooms = tuple(planner.Room(r.name, r.capacity, frozenset(u - 1 for u in r.unavailable)) for r in self.rooms)
        return planner.Grid(len(self.rounds), rooms)

    def has(self, round_index: int, room: str) -> bool:
        """Whether round `round_index` (from 0) has room `room`."""
        found = next((r for r in self.rooms if r.name == room), None)
        return found is not None and 0 <= round_index < len(self.rounds) and round_index + 1 not in found.unavailable

    def table_number(self, room: str) -> int:
        return next(i for i, r in enumerate(self.rooms, 1) if r.name == room)


def grid_from(data: Any) -> SessionGrid | None:
    """A grid as a spec writes it, or None when it has a problem (the spec was checked when it was read)."""
    try:
        return SessionGrid.model_validate(data)
    except ValidationError:
        return None


def _places(value: Any, low: int) -> int | None:
    return whole(value, low, MAX_CAPACITY)


def check_group_places(value: Any, groups: Any) -> Any:
    """`working_group_capacity`: one number of places for every group, or a mapping of group to places."""
    if value is UNSET:
        return value
    listed = {str(g) for g in groups if isinstance(g, str | int)} if isinstance(groups, list) else set()
    if isinstance(value, Mapping):
        found = Found()
        for name, places in value.items():
            if str(name) not in listed:
                found.add((str(name),), N_("is not one of the working_groups"))
            elif _places(places, 0) is None:
                found.add((str(name),), N_("must be a whole number from %(min)s to %(max)s"), min=0, max=MAX_CAPACITY)
        found.raise_if_any()
    elif _places(value, 1) is None:
        raise problem(N_("must be a number of places for every group, or a mapping of group to places"))
    return value
