"""BarCamp session planning and working-group assignment: pure, deterministic functions without I/O."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# Served interest, the planner's objective: per round, each participant attends at most one of the sessions
# they are interested in, and no session has more attendees than its room has places. Its maximum is a
# bipartite b-matching per round, computed exactly. Hosts run their session and attend nothing else in that
# round; their interest in their own session does not count. Plans are compared lexicographically by
# (sessions placed, interest served, -clashing interest, sum of interest x room capacity): every session that
# can be placed is placed, then as much interest as possible is served, then sessions that share interested
# people go into different rounds, then popular sessions get the bigger rooms.

__all__ = [
    "GroupAssignment",
    "Grid",
    "Plan",
    "Reason",
    "Room",
    "Session",
    "Slot",
    "assign_groups",
    "describe",
    "evaluate_plan",
    "greedy_plan",
    "optimal_plan",
    "plan_sessions",
]

DEFAULT_EFFORT = 100_000  # tried moves: about 1.5 s for 100 sessions, 300 people, 5 x 12 slots
ROUND_CACHE = 200_000  # round values kept (a few hundred bytes each)
PATIENCE = 100  # perturbations without a better plan before the search stops early
EXHAUSTIVE_LIMIT = 2_000_000


@dataclass(frozen=True, order=True)
class Slot:
    """A place in the grid; rounds count from 0 (texts for people count from 1)."""

    round: int
    room: str


@dataclass(frozen=True)
class Session:
    """A proposed session; hosts are participant ids. Every session lasts one round."""

    id: str
    title: str = ""
    hosts: tuple[str, ...] = ()
    fixed: Slot | None = None  # frozen by the organiser: the planner keeps it there


@dataclass(frozen=True)
class Room:
    id: str
    capacity: int
    unavailable: frozenset[int] = frozenset()  # rounds in which the room cannot be used


@dataclass(frozen=True)
class Grid:
    rounds: int
    rooms: tuple[Room, ...]


@dataclass(frozen=True)
class Reason:
    """Something a plan could not satisfy, as a code and its parameters; `describe` words it."""

    code: str
    params: Mapping[str, str | int] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Plan:
    placements: Mapping[str, Slot]  # session id -> slot
    unplaced: tuple[str, ...]
    reasons: tuple[Reason, ...]
    served: int  # interest served, as defined above
    interest: int  # interest in all sessions, placed or not (an upper bound of served)


@dataclass(frozen=True)
class GroupAssignment:
    assignment: Mapping[str, str]  # participant id -> group id
    unassigned: tuple[str, ...]
    by_rank: tuple[int, ...]  # by_rank[0]: participants in their first choice, by_rank[1]: second, ...


# Problem as indexes and bitmasks --------------------------------------------------------------------------


class _Instance:
    """The input, indexed: sessions by id, participants as bits, rooms by (-capacity, id); so a plan does not
    depend on the order in which the caller lists things."""

    def __init__(
        self,
        sessions: Iterable[Session],
        interest: Mapping[str, Iterable[str]],
        grid: Grid,
        frozen: Mapping[str, Slot] | None,
    ) -> None:
        by_id: dict[str, Session] = {}
        for session in sessions:
            if session.id in by_id:
                raise ValueError(f"session id {session.id!r} appears twice")
            by_id[session.id] = session
        if grid.rounds < 0:
            raise ValueError("a grid needs at least zero rounds")
        room_ids = [room.id for room in grid.rooms]
        if len(set(room_ids)) != len(room_ids):
            raise ValueError("room ids must be unique")
        if any(room.capacity < 0 for room in grid.rooms):
            raise ValueError("room capacities cannot be negative")
        frozen = dict(frozen or {})
        unknown_frozen = sorted(set(frozen) - set(by_id))
        if unknown_frozen:
            raise ValueError(f"frozen placements of unknown sessions: {', '.join(unknown_frozen)}")

        self.reasons: list[Reason] = []
        self.ids = sorted(by_id)
        self.sessions = [by_id[i] for i in self.ids]
        index = {sid: s for s, sid in enumerate(self.ids)}
        people = set(interest) | {h for session in self.sessions for h in session.hosts}
        self.people = sorted(people)
        bit = {p: 1 << i for i, p in enumerate(self.people)}
        self.host = [_mask(bit[h] for h in session.hosts) for session in self.sessions]
        wanted = [0] * len(self.ids)
        unknown = 0
        for person, chosen in interest.items():
            for sid in set(chosen):
                if sid in index:
                    wanted[index[sid]] |= bit[person]
                else:
                    unknown += 1
        # a host's interest in their own session is no interest to serve: they are there anyway
        self.wanted = [w & ~h for w, h in zip(wanted, self.host, strict=True)]
        self.pop = [w.bit_count() for w in self.wanted]
        self.interest = sum(self.pop)
        if unknown:
            self.reasons.append(Reason("unknown_sessions", {"count": unknown}))

        self.rounds = grid.rounds
        self.rooms = sorted(grid.rooms, key=lambda room: (-room.capacity, room.id))
        self.cap = [room.capacity for room in self.rooms]
        room_index = {room.id: k for k, room in enumerate(self.rooms)}
        self.slots = [
            (r, k) for r in range(self.rounds) for k, room in enumerate(self.rooms) if r not in room.unavailable
        ]
        self.slot_at = {rk: t for t, rk in enumerate(self.slots)}
        self.slot_round = [r for r, _ in self.slots]
        self.round_slots: list[list[int]] = [[] for _ in range(self.rounds)]
        for t, (r, _) in enumerate(self.slots):
            self.round_slots[r].append(t)

        self.fixed: dict[int, int] = {}
        taken: dict[int, int] = {}
        round_hosts = [0] * self.rounds
        for s, session in enumerate(self.sessions):
            slot = frozen.get(session.id, session.fixed)
            if slot is None:
                continue
            at = self.slot_at.get((slot.round, room_index.get(slot.room, -1)))
            params: dict[str, str | int] = {"session": session.id, "title": self._title(s)}
            params |= {"round": slot.round, "room": slot.room}
            if at is None:
                self.reasons.append(Reason("frozen_slot_unavailable", params))
            elif at in taken:
                other = taken[at]
                self.reasons.append(
                    Reason("frozen_slot_taken", params | {"other": self.ids[other], "other_title": self._title(other)})
                )
            elif round_hosts[slot.round] & self.host[s]:
                other = next(
                    o for o, u in self.fixed.items() if self.slot_round[u] == slot.round and self.host[o] & self.host[s]
                )
                host = self._person(self.host[s] & self.host[other])
                self.reasons.append(
                    Reason(
                        "frozen_host_conflict",
                        params | {"host": host, "other": self.ids[other], "other_title": self._title(other)},
                    )
                )
            else:
                self.fixed[s] = at
                taken[at] = s
                round_hosts[slot.round] |= self.host[s]
        self.movable = [s for s in range(len(self.ids)) if s not in self.fixed]
        self._served_cache: dict[tuple[tuple[int, int], ...], int] = {}
        self._rounds: dict[tuple[int, ...], tuple[int, int, int, int]] = {}

    def _title(self, s: int) -> str:
        return self.sessions[s].title or self.ids[s]

    def _person(self, mask: int) -> str:
        return ", ".join(self.people[i] for i in range(mask.bit_length()) if mask >> i & 1)

    def members(self, occ: Sequence[int], r: int) -> tuple[int, ...]:
        """The occupants of round r's slots, -1 for an empty one: the key of the round's value."""
        return tuple(occ[t] for t in self.round_slots[r])

    def value(self, r: int, members: tuple[int, ...]) -> tuple[int, int, int, int]:
        """A round's part of the score: (placed, served, -clashing interest, interest x capacity)."""
        return self.bound(r, members, exact=True)

    def bound(self, r: int, members: tuple[int, ...], exact: bool = False) -> tuple[int, int, int, int]:
        # the search asks about the same round again and again (the round a session leaves, for every target)
        key = (r, exact, *members)
        known = self._rounds.get(key)
        if known is None:
            if len(self._rounds) > ROUND_CACHE:
                self._rounds.clear()
            known = self._rounds[key] = self._bound(r, members, exact)
        return known

    def _bound(self, r: int, members: tuple[int, ...], exact: bool) -> tuple[int, int, int, int]:
        """The round's value, with served replaced by an upper bound unless exact (the bound is exact unless
        sessions with more interested people than places share them, which needs the b-matching)."""
        hosts = 0
        for s in members:
            if s >= 0:
                hosts |= self.host[s]
        union = placed = total = fit = 0
        groups = []
        binding = False
        for t, s in zip(self.round_slots[r], members, strict=True):
            if s < 0:
                continue
            audience = self.wanted[s] & ~hosts
            cap = self.cap[self.slots[t][1]]
            union |= audience
            placed += 1
            total += self.pop[s]
            fit += self.pop[s] * cap
            groups.append((audience, cap))
            binding = binding or audience.bit_count() > cap
        reach = union.bit_count()
        served = reach
        if binding:
            fitted, core = _seat_uncontested(groups)
            contested = _mask(mask for mask, _ in core).bit_count()
            places = sum(cap for _, cap in core)
            served = fitted + min(contested, places)
            # disjoint overfull sessions are simply full; otherwise the bound may be too high
            if exact and sum(mask.bit_count() for mask, _ in core) != contested:
                key = tuple(core)
                cached = self._served_cache.get(key)
                if cached is None:
                    cached = self._served_cache[key] = _augment(core)
                served = fitted + cached
        return placed, served, reach - total, fit

    def score(self, occ: Sequence[int]) -> tuple[int, int, int, int]:
        return _add(*(self.value(r, self.members(occ, r)) for r in range(self.rounds)))

    def empty(self) -> list[int]:
        """Slot occupants with only the frozen sessions placed."""
        occ = [-1] * len(self.slots)
        for s, t in self.fixed.items():
            occ[t] = s
        return occ


def _mask(bits: Iterable[int]) -> int:
    mask = 0
    for b in bits:
        mask |= b
    return mask


def _sub(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    return a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3]


def _add(*values: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    a = b = c = d = 0
    for w, x, y, z in values:
        a, b, c, d = a + w, b + x, c + y, d + z
    return a, b, c, d


def _seat_uncontested(groups: Sequence[tuple[int, int]]) -> tuple[int, list[tuple[int, int]]]:
    """Served participants that need no matching, and the contested rest. Groups are (audience bitmask, places)
    per session. A session whose (remaining) audience fits its room seats all of them, and seating someone there
    never costs a place elsewhere; so they count as served and leave the problem, until every session left is
    overfull."""
    served = 0
    core = list(groups)
    while True:
        fitting = _mask(mask for mask, cap in core if mask.bit_count() <= cap)
        if not fitting:
            return served, [(mask, cap) for mask, cap in core if mask]
        served += fitting.bit_count()
        core = [(mask & ~fitting, cap) for mask, cap in core if mask.bit_count() > cap]


def _augment(groups: Sequence[tuple[int, int]]) -> int:
    """The b-matching itself: the least flexible first into the emptiest session, then augmenting paths."""
    options: dict[int, list[int]] = {}
    for j, (mask, _) in enumerate(groups):
        while mask:
            low = mask & -mask
            options.setdefault(low, []).append(j)
            mask ^= low
    cap = [c for _, c in groups]
    load = [0] * len(groups)
    seated: list[set[int]] = [set() for _ in groups]
    waiting = []
    # the least flexible first, into the session with the most places left
    for person in sorted(options, key=lambda q: (len(options[q]), q)):
        j = max(options[person], key=lambda i: (cap[i] - load[i], -i))
        if load[j] < cap[j]:
            load[j] += 1
            seated[j].add(person)
        else:
            waiting.append(person)
    served = sum(load)
    for person in waiting:
        parent: dict[int, tuple[int, int]] = {j: (-1, person) for j in options[person]}
        queue = list(parent)
        found = -1
        for j in queue:
            if load[j] < cap[j]:
                found = j
                break
            for other in sorted(seated[j]):
                for j2 in options[other]:
                    if j2 not in parent:
                        parent[j2] = (j, other)
                        queue.append(j2)
        if found < 0:
            continue
        load[found] += 1
        served += 1
        j = found
        while j >= 0:
            previous, mover = parent[j]
            seated[j].add(mover)
            if previous >= 0:
                seated[previous].discard(mover)
            j = previous
    return served


# Search ------------------------------------------------------------------------------------------------------


class _Search:
    """A plan under local search: moves, swaps and replacements, tried in index order, first improvement."""

    def __init__(self, inst: _Instance, occ: list[int]) -> None:
        self.inst = inst
        self.occ = occ
        self.slot_of = [-1] * len(inst.ids)
        for t, s in enumerate(occ):
            if s >= 0:
                self.slot_of[s] = t
        self.vals = [inst.value(r, inst.members(occ, r)) for r in range(inst.rounds)]
        self.round_hosts = [_mask(inst.host[s] for s in inst.members(occ, r) if s >= 0) for r in range(inst.rounds)]
        self.score = _add(*self.vals)
        self.tried = 0

    def fits(self, s: int, r: int, leaving: int) -> bool:
        """Whether s's hosts are free in round r once `leaving` (a session or -1) has left it; hosts in a round
        are disjoint, so removing a session's hosts from the round's mask is exact."""
        busy = self.round_hosts[r]
        if leaving >= 0:
            busy &= ~self.inst.host[leaving]
        return not busy & self.inst.host[s]

    def attempt(self, changes: Mapping[int, int], force: bool = False) -> bool:
        """Put the given sessions (or -1) into the given slots if that improves the score (or if forced)."""
        self.tried += 1
        inst, occ = self.inst, self.occ
        old = {t: occ[t] for t in changes}
        for t, s in changes.items():
            occ[t] = s
        rounds = sorted({inst.slot_round[t] for t in changes})
        keys = [inst.members(occ, r) for r in rounds]
        before = _add(*(self.vals[r] for r in rounds))
        rest = _sub(self.score, before)
        if not force:
            upper = _add(rest, *(inst.bound(r, key) for r, key in zip(rounds, keys, strict=True)))
            if upper <= self.score:
                for t, s in old.items():
                    occ[t] = s
                return False
        new = [inst.value(r, key) for r, key in zip(rounds, keys, strict=True)]
        score = _add(rest, *new)
        if not force and score <= self.score:
            for t, s in old.items():
                occ[t] = s
            return False
        for t, s in old.items():
            if s >= 0 and self.slot_of[s] == t:
                self.slot_of[s] = -1
        for t, s in changes.items():
            if s >= 0:
                self.slot_of[s] = t
        for r, value in zip(rounds, new, strict=True):
            self.vals[r] = value
            self.round_hosts[r] = _mask(inst.host[s] for s in inst.members(occ, r) if s >= 0)
        self.score = score
        return True

    def relocate(self, s: int, t: int, force: bool = False) -> bool:
        """s into slot t; whoever is there takes s's old slot (or is left out when s had none)."""
        inst = self.inst
        here = self.slot_of[s]
        if here == t:
            return False
        other = self.occ[t]
        if other >= 0 and other in inst.fixed:
            return False
        r, r0 = inst.slot_round[t], inst.slot_round[here] if here >= 0 else -1
        if r == r0:
            changes = {t: s, here: other}  # same round: hosts unchanged
        else:
            if not self.fits(s, r, other):
                return False
            if here >= 0 and other >= 0 and not self.fits(other, r0, s):
                return False
            changes = {t: s} if here < 0 else {t: s, here: other}
        return self.attempt(changes, force)

    def descend(self, budget: int, order: Sequence[int] | None = None) -> None:
        """Local search until no move improves or the budget of tried moves is spent."""
        sessions = list(order if order is not None else self.inst.movable)
        slots = range(len(self.inst.slots))
        improved = True
        while improved and self.tried < budget:
            improved = False
            for s in sessions:
                for t in slots:
                    if self.tried >= budget:
                        return
                    if self.relocate(s, t):
                        improved = True


def _construct(inst: _Instance) -> list[int]:
    """Sessions by descending interest, each into the slot that scores best at that point."""
    search = _Search(inst, inst.empty())
    occ = search.occ
    for s in sorted(inst.movable, key=lambda i: (-inst.pop[i], i)):
        best: tuple[tuple[int, int, int, int], int] | None = None
        for t, (r, _) in enumerate(inst.slots):
            if occ[t] >= 0 or not search.fits(s, r, -1):
                continue
            occ[t] = s
            gain = _sub(inst.value(r, inst.members(occ, r)), search.vals[r])
            occ[t] = -1
            if best is None or gain > best[0]:
                best = (gain, t)
        if best is not None:
            search.attempt({best[1]: s}, force=True)
    return occ


def _local_search(inst: _Instance, effort: int) -> list[int]:
    """Construction, descent, then descents from perturbed plans while the budget of tried moves lasts
    (iterated local search; the perturbations come from a seeded generator, so they are repeatable)."""
    search = _Search(inst, _construct(inst))
    search.descend(effort)
    best_occ, best_score = list(search.occ), search.score
    if not inst.movable or not inst.slots:
        return best_occ
    rng = random.Random(7)  # noqa: S311 - not security: a fixed seed, the same input gives the same plan
    stale = 0
    while search.tried < effort and stale < PATIENCE:
        stale += 1
        for s in rng.sample(inst.movable, min(len(inst.movable), 2)):
            search.relocate(s, rng.randrange(len(inst.slots)), force=True)
        search.descend(effort)
        if search.score > best_score:
            best_occ, best_score, stale = list(search.occ), search.score, 0
        elif search.score < best_score:
            tried = search.tried
            search = _Search(inst, list(best_occ))
            search.tried = tried
    return best_occ


# Public planning functions -------------------------------------------------------------------------------------


def plan_sessions(
    sessions: Iterable[Session],
    interest: Mapping[str, Iterable[str]],
    grid: Grid,
    frozen: Mapping[str, Slot] | None = None,
    *,
    effort: int = DEFAULT_EFFORT,
) -> Plan:
    """The plan that serves the most interest the search finds within `effort` tried moves (a count, not a
    time, so the same input gives the same plan). Frozen placements (the argument, or Session.fixed) stay."""
    inst = _Instance(sessions, interest, grid, frozen)
    return _result(inst, _local_search(inst, effort))


def greedy_plan(
    sessions: Iterable[Session],
    interest: Mapping[str, Iterable[str]],
    grid: Grid,
    frozen: Mapping[str, Slot] | None = None,
) -> Plan:
    """The baseline by hand: most interest first, each into the biggest free room, earliest round, whose round
    does not have its host already."""
    inst = _Instance(sessions, interest, grid, frozen)
    occ = inst.empty()
    busy = [0] * inst.rounds
    for s, t in inst.fixed.items():
        busy[inst.slot_round[t]] |= inst.host[s]
    order = sorted(range(len(inst.slots)), key=lambda t: (inst.slots[t][1], inst.slots[t][0]))
    for s in sorted(inst.movable, key=lambda i: (-inst.pop[i], i)):
        for t in order:
            r = inst.slot_round[t]
            if occ[t] < 0 and not busy[r] & inst.host[s]:
                occ[t] = s
                busy[r] |= inst.host[s]
                break
    return _result(inst, occ)


def optimal_plan(
    sessions: Iterable[Session],
    interest: Mapping[str, Iterable[str]],
    grid: Grid,
    frozen: Mapping[str, Slot] | None = None,
) -> Plan:
    """The best plan by exhaustive search, for small cases (the reference the planner is tested against)."""
    inst = _Instance(sessions, interest, grid, frozen)
    choices = len(inst.slots) + 1
    if choices ** len(inst.movable) > EXHAUSTIVE_LIMIT:
        raise ValueError(f"too big for exhaustive search: {len(inst.movable)} sessions, {choices - 1} slots")
    occ = inst.empty()
    best: list[tuple[tuple[int, int, int, int], list[int]]] = []
    round_hosts = [0] * inst.rounds
    for s, t in inst.fixed.items():
        round_hosts[inst.slot_round[t]] |= inst.host[s]

    def place(i: int) -> None:
        if i == len(inst.movable):
            score = inst.score(occ)
            if not best or score > best[0][0]:
                best[:] = [(score, list(occ))]
            return
        s = inst.movable[i]
        place(i + 1)  # left out
        for t, (r, _) in enumerate(inst.slots):
            if occ[t] < 0 and not round_hosts[r] & inst.host[s]:
                occ[t] = s
                round_hosts[r] |= inst.host[s]
                place(i + 1)
                round_hosts[r] &= ~inst.host[s]
                occ[t] = -1

    place(0)
    return _result(inst, best[0][1])


def evaluate_plan(
    sessions: Iterable[Session],
    interest: Mapping[str, Iterable[str]],
    grid: Grid,
    placements: Mapping[str, Slot],
) -> Plan:
    """A plan made or changed by hand, scored and explained like a computed one; double-booked hosts and
    placements outside the grid are reasons too (sessions outside the grid count as unplaced)."""
    inst = _Instance(sessions, interest, grid, None)
    index = {sid: s for s, sid in enumerate(inst.ids)}
    room_index = {room.id: k for k, room in enumerate(inst.rooms)}
    unknown = sorted(set(placements) - set(index))
    if unknown:
        raise ValueError(f"placements of unknown sessions: {', '.join(unknown)}")
    # two sessions in one slot cannot be held in an occupant list: the second goes to an overflow list
    occ = inst.empty()
    extra: list[tuple[int, int]] = []
    for sid in sorted(placements):
        s, slot = index[sid], placements[sid]
        t = inst.slot_at.get((slot.round, room_index.get(slot.room, -1)))
        params: dict[str, str | int] = {"session": sid, "title": inst._title(s), "round": slot.round, "room": slot.room}
        if t is None:
            inst.reasons.append(Reason("frozen_slot_unavailable", params))
        elif occ[t] >= 0:
            inst.reasons.append(
                Reason("frozen_slot_taken", params | {"other": inst.ids[occ[t]], "other_title": inst._title(occ[t])})
            )
            extra.append((s, t))
        else:
            occ[t] = s
    for r in range(inst.rounds):
        seen: dict[int, int] = {}
        for s in [occ[t] for t in inst.round_slots[r] if occ[t] >= 0] + [
            s for s, t in extra if inst.slot_round[t] == r
        ]:
            for i in range(inst.host[s].bit_length()):
                if inst.host[s] >> i & 1:
                    if i in seen:
                        other = seen[i]
                        clash: dict[str, str | int] = {"host": inst.people[i], "round": r, "session": inst.ids[s]}
                        clash |= {"title": inst._title(s), "other": inst.ids[other], "other_title": inst._title(other)}
                        inst.reasons.append(Reason("host_double_booked", clash))
                    else:
                        seen[i] = s
    return _result(inst, occ)


def _result(inst: _Instance, occ: Sequence[int]) -> Plan:
    placements = {inst.ids[s]: Slot(r, inst.rooms[k].id) for (r, k), s in zip(inst.slots, occ, strict=True) if s >= 0}
    unplaced = tuple(sid for sid in inst.ids if sid not in placements)
    _, served, _, _ = inst.score(occ)
    return Plan(placements, unplaced, tuple(inst.reasons + _explain(inst, occ)), served, inst.interest)


def _explain(inst: _Instance, occ: Sequence[int]) -> list[Reason]:
    reasons: list[Reason] = []
    placed = {s for s in occ if s >= 0}
    free = [t for t, s in enumerate(occ) if s < 0]
    round_hosts = [_mask(inst.host[s] for s in inst.members(occ, r) if s >= 0) for r in range(inst.rounds)]
    for s in range(len(inst.ids)):
        if s in placed:
            continue
        params: dict[str, str | int] = {"session": inst.ids[s], "title": inst._title(s), "interested": inst.pop[s]}
        if not free:
            params |= {"sessions": len(inst.ids), "slots": len(inst.slots)}
            reasons.append(Reason("no_free_slot", params))
        else:
            busy = _mask(round_hosts[inst.slot_round[t]] & inst.host[s] for t in free)
            if busy:
                reasons.append(Reason("hosts_busy", params | {"hosts": inst._person(busy)}))
            else:  # only in a plan made by hand: the planners place whatever fits
                reasons.append(Reason("not_placed", params))
    clashing = missed = hosts_missing = host_missed = 0
    for r in range(inst.rounds):
        members = [(t, occ[t]) for t in inst.round_slots[r] if occ[t] >= 0]
        hosts = round_hosts[r]
        count: dict[int, int] = {}
        for t, s in members:
            audience = inst.wanted[s] & ~hosts
            cap = inst.cap[inst.slots[t][1]]
            if audience.bit_count() > cap:
                full: dict[str, str | int] = {"session": inst.ids[s], "title": inst._title(s), "round": r}
                full |= {"room": inst.rooms[inst.slots[t][1]].id, "interested": audience.bit_count(), "capacity": cap}
                reasons.append(Reason("over_capacity", full))
            mask = audience
            while mask:
                low = mask & -mask
                count[low] = count.get(low, 0) + 1
                mask ^= low
            host_missed += (inst.wanted[s] & hosts).bit_count()
        clashing += sum(1 for c in count.values() if c > 1)
        missed += sum(c - 1 for c in count.values())
        hosts_missing += _mask(inst.wanted[s] & hosts for _, s in members).bit_count()
    if missed:
        reasons.append(Reason("interest_clashes", {"participants": clashing, "missed": missed}))
    if host_missed:
        reasons.append(Reason("hosts_miss_sessions", {"hosts": hosts_missing, "missed": host_missed}))
    return reasons


# Texts ----------------------------------------------------------------------------------------------------------

_TEXTS: dict[str, dict[str, str]] = {
    "no_free_slot": {
        "de": "„{title}“ ist nicht eingeplant: {sessions} Sessions, aber nur {slots} Plätze im Raster, und die "
        "eingeplanten erreichen zusammen mehr Interessierte ({interested} Interessierte an dieser).",
        "en": "“{title}” is not scheduled: {sessions} sessions but only {slots} places in the grid, and the "
        "scheduled ones reach more interested people in all ({interested} interested in this one).",
    },
    "hosts_busy": {
        "de": "„{title}“ ist nicht eingeplant: In jeder Runde mit freiem Raum leitet die Gastgeber*in "
        "({hosts}) schon eine andere Session.",
        "en": "“{title}” is not scheduled: in every round with a free room, its host ({hosts}) already runs "
        "another session.",
    },
    "not_placed": {
        "de": "„{title}“ ist nicht eingeplant, obwohl noch passende Plätze frei sind ({interested} Interessierte).",
        "en": "“{title}” is not scheduled although suitable places are free ({interested} interested).",
    },
    "frozen_slot_unavailable": {
        "de": "„{title}“ kann nicht wie festgelegt in {room}, Runde {round_no}, stattfinden: "
        "Diesen Raum gibt es in dieser Runde nicht.",
        "en": "“{title}” cannot take place in {room}, round {round_no}, as fixed: that room is not available in "
        "that round.",
    },
    "frozen_slot_taken": {
        "de": "„{title}“ kann nicht wie festgelegt in {room}, Runde {round_no}, stattfinden: "
        "Dort ist schon „{other_title}“.",
        "en": "“{title}” cannot take place in {room}, round {round_no}, as fixed: “{other_title}” is already there.",
    },
    "frozen_host_conflict": {
        "de": "„{title}“ kann nicht wie festgelegt in Runde {round_no} stattfinden: Die Gastgeber*in {host} "
        "leitet in dieser Runde schon „{other_title}“.",
        "en": "“{title}” cannot take place in round {round_no} as fixed: its host {host} already runs "
        "“{other_title}” in that round.",
    },
    "host_double_booked": {
        "de": "Die Gastgeber*in {host} leitet in Runde {round_no} sowohl „{other_title}“ als auch „{title}“.",
        "en": "The host {host} runs both “{other_title}” and “{title}” in round {round_no}.",
    },
    "over_capacity": {
        "de": "„{title}“ ({room}, Runde {round_no}): {interested} Interessierte, aber nur {capacity} Plätze.",
        "en": "“{title}” ({room}, round {round_no}): {interested} interested, but only {capacity} places.",
    },
    "interest_clashes": {
        "de": "Teilnehmende mit mehreren gewünschten Sessions in derselben Runde: {participants}; "
        "verpasste Sessions: {missed}.",
        "en": "Participants with several wanted sessions in the same round: {participants}; sessions missed: {missed}.",
    },
    "hosts_miss_sessions": {
        "de": "Gastgeber*innen, die eine gewünschte Session verpassen, weil sie zur selben Zeit ihre eigene leiten: "
        "{hosts}; verpasste Sessions: {missed}.",
        "en": "Hosts who miss a wanted session because they run their own at the same time: {hosts}; "
        "sessions missed: {missed}.",
    },
    "unknown_sessions": {
        "de": "Interesse an Sessions, die es nicht (mehr) gibt, wurde nicht berücksichtigt: {count}.",
        "en": "Interest in sessions that do not exist (any more) was left out: {count}.",
    },
}


def describe(reason: Reason, language: str = "de") -> str:
    """A reason in German (the default) or English; rounds are counted from 1 for people."""
    texts = _TEXTS[reason.code]
    text = texts["en"] if language.lower().startswith("en") else texts["de"]
    params = dict(reason.params)
    if "round" in params:
        params["round_no"] = int(params["round"]) + 1
    return text.format(**params)


# Working groups --------------------------------------------------------------------------------------------------


def assign_groups(preferences: Mapping[str, Sequence[str]], capacities: Mapping[str, int]) -> GroupAssignment:
    """Participants into working groups within capacity: as many as possible into one of the groups they
    chose, and among those assignments, the most first choices, then the most second choices, and so on.

    A min-cost assignment (successive shortest paths, one participant at a time as in the Hungarian method):
    each new participant enters along the cheapest chain of moves between groups, which keeps the assignment
    of those already in optimal. Groups not in `capacities` and repeated choices are ignored.
    """
    people = sorted(preferences)
    groups = sorted(capacities)
    gindex = {g: i for i, g in enumerate(groups)}
    outside = len(groups)  # a pseudo-group without limit: not assigned
    choices: list[list[int]] = []
    for person in people:
        seen: list[int] = []
        for name in preferences[person]:
            if name in gindex and gindex[name] not in seen:
                seen.append(gindex[name])
        choices.append(seen)
    longest = max((len(c) for c in choices), default=0)
    base = len(people) + 1
    # gain of rank i: one more assigned person outweighs any ranks, one more i-th choice outweighs any later ones
    top: int = base ** (longest + 1) + base**longest

    def cost(p: int, g: int) -> int:
        if g == outside:
            return top
        rank = choices[p].index(g)
        gain: int = base ** (longest + 1) + base ** (longest - rank)
        return top - gain

    unreached = top * (len(people) + 2)  # more than any chain of moves can cost
    cap = [max(0, capacities[g]) for g in groups]
    where = [outside] * len(people)
    load = [0] * (len(groups) + 1)
    members: list[list[int]] = [[] for _ in range(len(groups) + 1)]
    for p in range(len(people)):
        # Bellman-Ford over groups: dist[g] is the cheapest cost of p ending up with a place made in g
        dist = [unreached] * (len(groups) + 1)
        via: list[tuple[int, int]] = [(-1, -1)] * (len(groups) + 1)  # (previous group, who moved from there)
        for g in [*choices[p], outside]:
            dist[g] = cost(p, g)
            via[g] = (-1, p)
        # the cheapest move of someone from g to h, per pair
        moves: dict[tuple[int, int], tuple[int, int]] = {}
        for g in range(len(groups) + 1):
            for q in members[g]:
                for h in [*choices[q], outside]:
                    if h != g:
                        delta = cost(q, h) - cost(q, g)
                        if (g, h) not in moves or delta < moves[g, h][0]:
                            moves[g, h] = (delta, q)
        for _ in range(len(groups) + 1):
            changed = False
            for (g, h), (delta, q) in sorted(moves.items()):
                dg, dh = dist[g], dist[h]
                if dg != unreached and dg + delta < dh:
                    dist[h] = dg + delta
                    via[h] = (g, q)
                    changed = True
            if not changed:
                break
        ends = [g for g in range(len(groups) + 1) if dist[g] != unreached and load[g] < _limit(cap, g)]
        end = min(ends, key=lambda g: (dist[g], g))
        load[end] += 1
        g = end
        while g >= 0:
            previous, mover = via[g]
            members[g].append(mover)
            where[mover] = g
            if previous >= 0:
                members[previous].remove(mover)
            g = previous
    assignment = {people[p]: groups[g] for p, g in enumerate(where) if g != outside}
    by_rank = [0] * longest
    for p, g in enumerate(where):
        if g != outside:
            by_rank[choices[p].index(g)] += 1
    unassigned = tuple(people[p] for p, g in enumerate(where) if g == outside)
    return GroupAssignment(assignment, unassigned, tuple(by_rank))


def _limit(cap: Sequence[int], g: int) -> int | float:
    return cap[g] if g < len(cap) else float("inf")
