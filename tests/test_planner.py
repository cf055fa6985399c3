"""The session planner against exhaustive search and its constraints; working groups against brute force."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventkit.model.planner import (
    Grid,
    Plan,
    Reason,
    Room,
    Session,
    Slot,
    assign_groups,
    describe,
    evaluate_plan,
    greedy_plan,
    optimal_plan,
    plan_sessions,
)

Case = tuple[list[Session], dict[str, set[str]], Grid]


def small_case(seed: int) -> Case:
    """2-3 rounds x 2 rooms (sometimes one unavailable), 3-6 sessions, 4-8 participants, tight capacities."""
    rnd = random.Random(seed)
    rounds = rnd.randint(2, 3)
    rooms = tuple(
        Room(f"room{k}", rnd.randint(1, 4), frozenset(r for r in range(rounds) if rnd.random() < 0.1)) for k in range(2)
    )
    people = [f"p{i}" for i in range(rnd.randint(4, 8))]
    sessions = [
        Session(f"s{i}", f"Session {i}", tuple(sorted(set(rnd.sample(people, rnd.choice([1, 1, 1, 2]))))))
        for i in range(rnd.randint(3, 6))
    ]
    interest = {p: {s.id for s in sessions if rnd.random() < 0.45} for p in people}
    return sessions, interest, Grid(rounds, rooms)


def large_case(seed: int, sessions: int, people: int, rounds: int, rooms: int) -> Case:
    """Skewed interest (a few sessions draw many), mixed room sizes, some sessions with two hosts."""
    rnd = random.Random(seed)
    grid = Grid(rounds, tuple(Room(f"room{k:02}", rnd.choice([8, 12, 20, 30, 50])) for k in range(rooms)))
    names = [f"p{i:03}" for i in range(people)]
    proposed = [
        Session(f"s{i:03}", f"Session {i}", tuple(rnd.sample(names, 1 if rnd.random() < 0.8 else 2)))
        for i in range(sessions)
    ]
    weights = [1 / (i + 1) ** 0.8 for i in range(sessions)]
    interest = {p: {s.id for s in rnd.choices(proposed, weights, k=rnd.randint(1, 10))} for p in names}
    return proposed, interest, grid


def served_by_brute_force(sessions: Sequence[Session], interest: Mapping[str, set[str]], grid: Grid, plan: Plan) -> int:
    """Served interest by trying every choice: per round, each participant (not hosting then) attends one of
    the sessions they want there, or none, and no room takes more than its places."""
    hosts = {s.id: set(s.hosts) for s in sessions}
    places = {room.id: room.capacity for room in grid.rooms}
    total = 0
    for r in {slot.round for slot in plan.placements.values()}:
        here = sorted(sid for sid, slot in plan.placements.items() if slot.round == r)
        busy = set().union(*(hosts[sid] for sid in here))
        options = [[sid for sid in here if sid in interest[p]] for p in sorted(interest) if p not in busy]
        capacity = {sid: places[plan.placements[sid].room] for sid in here}
        total += most_attending([o for o in options if o], capacity, Counter())
    return total


def most_attending(options: list[list[str]], capacity: dict[str, int], load: Counter[str]) -> int:
    if not options:
        return 0
    best = most_attending(options[1:], capacity, load)  # the first person attends nothing
    for sid in options[0]:
        if load[sid] < capacity[sid]:
            load[sid] += 1
            best = max(best, 1 + most_attending(options[1:], capacity, load))
            load[sid] -= 1
    return best


def check_constraints(sessions: Sequence[Session], grid: Grid, plan: Plan, frozen: Mapping[str, Slot]) -> None:
    rooms = {room.id: room for room in grid.rooms}
    # each session once: placed or not, never both
    assert sorted([*plan.placements, *plan.unplaced]) == sorted(s.id for s in sessions)
    assert len(set(plan.placements.values())) == len(plan.placements), "two sessions in one slot"
    for slot in plan.placements.values():
        assert 0 <= slot.round < grid.rounds
        assert slot.round not in rooms[slot.room].unavailable
    hosting: Counter[tuple[str, int]] = Counter()
    by_id = {s.id: s for s in sessions}
    for sid, slot in plan.placements.items():
        for host in set(by_id[sid].hosts):
            hosting[host, slot.round] += 1
    assert max(hosting.values(), default=0) <= 1, "a host in two places at once"
    for sid, slot in frozen.items():
        assert plan.placements[sid] == slot
    assert 0 <= plan.served <= plan.interest


# Optimality on small cases ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(150))
def test_finds_the_optimum_of_exhaustive_search(seed: int) -> None:
    sessions, interest, grid = small_case(seed)
    best = optimal_plan(sessions, interest, grid)
    plan = plan_sessions(sessions, interest, grid)
    check_constraints(sessions, grid, plan, {})
    assert (len(plan.placements), plan.served) == (len(best.placements), best.served)


@pytest.mark.parametrize("seed", range(40))
def test_finds_the_optimum_with_a_frozen_session(seed: int) -> None:
    sessions, interest, grid = small_case(1000 + seed)
    rnd = random.Random(seed)
    slots = [Slot(r, room.id) for r in range(grid.rounds) for room in grid.rooms if r not in room.unavailable]
    frozen = {rnd.choice(sessions).id: rnd.choice(slots)}
    best = optimal_plan(sessions, interest, grid, frozen)
    plan = plan_sessions(sessions, interest, grid, frozen)
    check_constraints(sessions, grid, plan, frozen)
    assert (len(plan.placements), plan.served) == (len(best.placements), best.served)


@pytest.mark.parametrize("seed", range(60))
def test_served_interest_is_what_brute_force_counts(seed: int) -> None:
    sessions, interest, grid = small_case(2000 + seed)
    for plan in (optimal_plan(sessions, interest, grid), greedy_plan(sessions, interest, grid)):
        assert plan.served == served_by_brute_force(sessions, interest, grid, plan)
    # a plan by hand, arbitrary but within the grid
    rnd = random.Random(seed)
    slots = [Slot(r, room.id) for r in range(grid.rounds) for room in grid.rooms if r not in room.unavailable]
    hand = dict(zip([s.id for s in sessions], rnd.sample(slots, min(len(slots), len(sessions))), strict=False))
    plan = evaluate_plan(sessions, interest, grid, hand)
    assert plan.placements == hand
    assert plan.served == served_by_brute_force(sessions, interest, grid, plan)


def test_served_counts_one_session_per_round_and_room_places() -> None:
    sessions = [Session("a", "A"), Session("b", "B"), Session("c", "C")]
    interest = {"p1": {"a", "b"}, "p2": {"a", "b"}, "p3": {"a"}}
    grid = Grid(1, (Room("big", 2), Room("small", 1), Room("tiny", 1)))
    plan = evaluate_plan(sessions, interest, grid, {"a": Slot(0, "small"), "b": Slot(0, "big")})
    # p3 only wants a, which has one place; p1 and p2 both go to b: all three served
    assert plan.served == 3
    plan = evaluate_plan(sessions, interest, grid, {"a": Slot(0, "big"), "b": Slot(0, "tiny")})
    assert plan.served == 3
    plan = evaluate_plan(sessions, interest, grid, {"a": Slot(0, "tiny")})
    assert plan.served == 1
    assert plan.interest == 5


def test_served_reseats_people_to_make_room() -> None:
    # three full rooms of two: seating people one at a time, least flexible first, serves five; moving
    # someone already seated to another of their sessions serves all six
    sessions = [Session("a", "A"), Session("b", "B"), Session("c", "C")]
    wants = {"a": [2, 4, 5], "b": [1, 2, 3, 5], "c": [0, 1, 4]}
    interest = {f"p{i}": {sid for sid, people in wants.items() if i in people} for i in range(6)}
    grid = Grid(1, (Room("r1", 2), Room("r2", 2), Room("r3", 2)))
    plan = evaluate_plan(sessions, interest, grid, {"a": Slot(0, "r1"), "b": Slot(0, "r2"), "c": Slot(0, "r3")})
    assert plan.served == served_by_brute_force(sessions, interest, grid, plan) == 6


def test_hosts_attend_nothing_else_in_their_round() -> None:
    sessions = [Session("a", "A", ("h",)), Session("b", "B")]
    interest = {"h": {"b"}, "p": {"a", "b"}}
    grid = Grid(2, (Room("r", 10), Room("q", 10)))
    plan = plan_sessions(sessions, interest, grid)
    assert plan.placements["a"].round != plan.placements["b"].round
    assert plan.served == 3
    together = evaluate_plan(sessions, interest, grid, {"a": Slot(0, "r"), "b": Slot(0, "q")})
    assert together.served == 1
    assert [r.code for r in together.reasons] == ["interest_clashes", "hosts_miss_sessions"]


def test_popular_sessions_get_the_bigger_rooms() -> None:
    sessions = [Session("quiet", "Quiet"), Session("popular", "Popular")]
    interest = {f"p{i}": {"popular"} for i in range(4)} | {"q": {"quiet"}}
    grid = Grid(1, (Room("hall", 40), Room("corner", 6)))
    plan = plan_sessions(sessions, interest, grid)
    assert plan.placements == {"popular": Slot(0, "hall"), "quiet": Slot(0, "corner")}


def test_sessions_with_shared_interest_are_spread_across_rounds() -> None:
    sessions = [Session(x, x.upper()) for x in "abcd"]
    # a and b share everyone, c and d share everyone: each pair must be split over the two rounds
    interest = {"p1": {"a", "b"}, "p2": {"a", "b"}, "p3": {"c", "d"}, "p4": {"c", "d"}}
    grid = Grid(2, (Room("r1", 10), Room("r2", 10)))
    plan = plan_sessions(sessions, interest, grid)
    assert plan.placements["a"].round != plan.placements["b"].round
    assert plan.placements["c"].round != plan.placements["d"].round
    assert plan.served == 8


# Constraints and determinism on large cases ----------------------------------------------------------------------


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6),
    sessions=st.integers(5, 70),
    people=st.integers(5, 200),
    rounds=st.integers(1, 5),
    rooms=st.integers(1, 10),
    frozen_count=st.integers(0, 4),
)
def test_constraints_hold_on_random_cases(
    seed: int, sessions: int, people: int, rounds: int, rooms: int, frozen_count: int
) -> None:
    proposed, interest, grid = large_case(seed, sessions, people, rounds, rooms)
    rnd = random.Random(seed)
    # frozen placements that are valid together: distinct slots, hosts free
    frozen: dict[str, Slot] = {}
    busy: set[tuple[str, int]] = set()
    slots = [Slot(r, room.id) for r in range(rounds) for room in grid.rooms]
    for session in rnd.sample(proposed, frozen_count):
        slot = rnd.choice(slots)
        if slot in frozen.values() or any((h, slot.round) in busy for h in session.hosts):
            continue
        frozen[session.id] = slot
        busy |= {(h, slot.round) for h in session.hosts}
    plan = plan_sessions(proposed, interest, grid, frozen, effort=4000)
    check_constraints(proposed, grid, plan, frozen)
    assert not [r for r in plan.reasons if r.code.startswith("frozen")]
    free = len(slots) - len(plan.placements)
    assert free == 0 or all(r.code == "hosts_busy" for r in plan.reasons if r.params.get("session") in plan.unplaced)
    baseline = greedy_plan(proposed, interest, grid, frozen)
    check_constraints(proposed, grid, baseline, frozen)


def test_real_size_keeps_every_constraint_and_beats_the_greedy_baseline() -> None:
    proposed, interest, grid = large_case(7, 100, 300, 5, 12)
    plan = plan_sessions(proposed, interest, grid)
    check_constraints(proposed, grid, plan, {})
    assert len(plan.placements) == 60
    assert plan.served > greedy_plan(proposed, interest, grid).served


def test_same_input_same_plan_whatever_the_order() -> None:
    proposed, interest, grid = large_case(11, 40, 120, 4, 6)
    plan = plan_sessions(proposed, interest, grid, effort=20_000)
    assert plan_sessions(proposed, interest, grid, effort=20_000) == plan
    rnd = random.Random(3)
    shuffled = rnd.sample(proposed, len(proposed))
    people = list(interest)
    rnd.shuffle(people)
    reordered = {p: set(rnd.sample(sorted(interest[p]), len(interest[p]))) for p in people}
    rooms = Grid(grid.rounds, tuple(rnd.sample(grid.rooms, len(grid.rooms))))
    assert plan_sessions(shuffled, reordered, rooms, effort=20_000) == plan


# Explanations ---------------------------------------------------------------------------------------------------


def codes(plan: Plan) -> list[str]:
    return [r.code for r in plan.reasons]


def test_more_sessions_than_slots() -> None:
    sessions = [Session(f"s{i}", f"Thema {i}") for i in range(5)]
    interest = {"p": {"s0", "s1"}, "q": {"s0", "s2"}, "r": {"s3"}}
    plan = plan_sessions(sessions, interest, Grid(2, (Room("a", 5),)))
    assert len(plan.placements) == 2 and len(plan.unplaced) == 3
    reasons = [r for r in plan.reasons if r.code == "no_free_slot"]
    assert sorted(str(r.params["session"]) for r in reasons) == sorted(plan.unplaced)
    assert all(r.params["sessions"] == 5 and r.params["slots"] == 2 for r in reasons)
    assert "s0" in plan.placements
    text = describe(reasons[0])
    assert "5 Sessions, aber nur 2 Plätze" in text
    assert "5 sessions but only 2 places" in describe(reasons[0], "en")


def test_host_with_two_frozen_sessions_in_one_round() -> None:
    sessions = [Session("a", "Antirassismus", ("kim",)), Session("b", "Barrierefreiheit", ("kim",))]
    frozen = {"a": Slot(0, "r1"), "b": Slot(0, "r2")}
    grid = Grid(2, (Room("r1", 10), Room("r2", 10)))
    plan = plan_sessions(sessions, {"p": {"a", "b"}}, grid, frozen)
    assert [r.code for r in plan.reasons] == ["frozen_host_conflict"]
    reason = plan.reasons[0]
    assert reason.params == {
        "session": "b",
        "title": "Barrierefreiheit",
        "round": 0,
        "room": "r2",
        "host": "kim",
        "other": "a",
        "other_title": "Antirassismus",
    }
    # the first keeps its place, the second is planned into the other round
    assert plan.placements["a"] == Slot(0, "r1")
    assert plan.placements["b"].round == 1
    assert describe(reason) == (
        "„Barrierefreiheit“ kann nicht wie festgelegt in Runde 1 stattfinden: Die Gastgeber*in kim leitet in "
        "dieser Runde schon „Antirassismus“."
    )
    assert describe(reason, "en-GB").startswith("“Barrierefreiheit” cannot take place in round 1 as fixed")


def test_host_with_more_sessions_than_rounds() -> None:
    sessions = [Session(f"s{i}", f"S{i}", ("kim",)) for i in range(3)]
    plan = plan_sessions(sessions, {}, Grid(2, (Room("r1", 10), Room("r2", 10))))
    assert len(plan.placements) == 2
    assert codes(plan) == ["hosts_busy"]
    assert plan.reasons[0].params["hosts"] == "kim"
    assert "Gastgeber*in (kim)" in describe(plan.reasons[0])


def test_frozen_in_an_unavailable_or_taken_slot() -> None:
    sessions = [Session("a", "A"), Session("b", "B"), Session("c", "C")]
    grid = Grid(2, (Room("r1", 10, frozenset({1})), Room("r2", 10)))
    frozen = {"a": Slot(0, "r2"), "b": Slot(0, "r2"), "c": Slot(1, "r1")}
    plan = plan_sessions(sessions, {}, grid, frozen)
    assert codes(plan) == ["frozen_slot_taken", "frozen_slot_unavailable"]
    assert plan.placements["a"] == Slot(0, "r2")
    assert sorted(plan.placements) == ["a", "b", "c"]
    assert Slot(1, "r1") not in plan.placements.values()
    assert describe(plan.reasons[0]) == "„B“ kann nicht wie festgelegt in r2, Runde 1, stattfinden: Dort ist schon „A“."


def test_too_many_interested_for_the_biggest_room() -> None:
    sessions = [Session("a", "A")]
    interest = {f"p{i}": {"a"} for i in range(7)}
    plan = plan_sessions(sessions, interest, Grid(1, (Room("r", 5),)))
    assert plan.served == 5
    assert codes(plan) == ["over_capacity"]
    assert plan.reasons[0].params["interested"] == 7
    assert describe(plan.reasons[0]) == "„A“ (r, Runde 1): 7 Interessierte, aber nur 5 Plätze."


def test_clashes_when_people_want_more_than_the_rounds_hold() -> None:
    sessions = [Session(x, x) for x in "abc"]
    interest = {"p": {"a", "b", "c"}, "q": {"a", "b", "c"}}
    plan = plan_sessions(sessions, interest, Grid(2, (Room("r1", 5), Room("r2", 5))))
    assert plan.served == 4
    assert Reason("interest_clashes", {"participants": 2, "missed": 2}) in plan.reasons


def test_hand_made_plan_with_a_double_booked_host() -> None:
    sessions = [Session("a", "A", ("kim",)), Session("b", "B", ("kim", "jo"))]
    grid = Grid(1, (Room("r1", 5), Room("r2", 5)))
    plan = evaluate_plan(sessions, {}, grid, {"a": Slot(0, "r1"), "b": Slot(0, "r2")})
    assert codes(plan) == ["host_double_booked"]
    assert "kim" in describe(plan.reasons[0]) and "round 1" in describe(plan.reasons[0], "en")


def test_interest_in_unknown_sessions_is_reported() -> None:
    plan = plan_sessions([Session("a", "A")], {"p": {"a", "gone"}}, Grid(1, (Room("r", 5),)))
    assert codes(plan) == ["unknown_sessions"]
    assert plan.served == 1


def test_every_reason_reads_in_german_and_english() -> None:
    params: dict[str, str | int] = {
        "session": "s",
        "title": "T",
        "other": "o",
        "other_title": "O",
        "round": 0,
        "room": "R",
        "host": "h",
        "hosts": 2,
        "interested": 3,
        "capacity": 2,
        "sessions": 9,
        "slots": 4,
        "participants": 2,
        "missed": 3,
        "count": 1,
    }
    from eventkit.model.planner import _TEXTS

    for code in _TEXTS:
        german, english = describe(Reason(code, params)), describe(Reason(code, params), "en")
        assert german != english and "{" not in german + english
    assert describe(Reason("over_capacity", params), "fr") == describe(Reason("over_capacity", params))


def test_bad_input_is_refused() -> None:
    grid = Grid(1, (Room("r", 5),))
    with pytest.raises(ValueError, match="twice"):
        plan_sessions([Session("a"), Session("a")], {}, grid)
    with pytest.raises(ValueError, match="unknown sessions"):
        plan_sessions([Session("a")], {}, grid, {"b": Slot(0, "r")})
    with pytest.raises(ValueError, match="too big"):
        optimal_plan([Session(f"s{i}") for i in range(12)], {}, Grid(4, (Room("a", 1), Room("b", 1))))


# Working groups --------------------------------------------------------------------------------------------------


def brute_force_groups(preferences: Mapping[str, list[str]], capacities: Mapping[str, int]) -> tuple[int, ...]:
    """The best (assigned, first choices, second choices, ...) over every assignment."""
    people = sorted(preferences)
    longest = max((len(p) for p in preferences.values()), default=0)
    best: tuple[int, ...] = ()
    for choice in itertools.product(*[[None, *preferences[p]] for p in people]):
        load = Counter(g for g in choice if g is not None)
        if any(load[g] > capacities[g] for g in load):
            continue
        ranks = [0] * longest
        for person, group in zip(people, choice, strict=True):
            if group is not None:
                ranks[preferences[person].index(group)] += 1
        best = max(best, (sum(ranks), *ranks))
    return best


def random_preferences(rnd: random.Random, people: int, groups: int, longest: int) -> dict[str, list[str]]:
    names = [f"g{i}" for i in range(groups)]
    return {f"p{i:03}": rnd.sample(names, rnd.randint(0, min(longest, groups))) for i in range(people)}


@pytest.mark.parametrize("seed", range(120))
def test_groups_match_brute_force(seed: int) -> None:
    rnd = random.Random(seed)
    groups = rnd.randint(1, 4)
    preferences = random_preferences(rnd, rnd.randint(1, 7), groups, 3)
    capacities = {f"g{i}": rnd.randint(0, 3) for i in range(groups)}
    result = assign_groups(preferences, capacities)
    best = brute_force_groups(preferences, capacities)
    longest = max(len(p) for p in preferences.values())
    assert (len(result.assignment), *result.by_rank) == best
    assert len(result.by_rank) == longest
    assert sorted([*result.assignment, *result.unassigned]) == sorted(preferences)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), people=st.integers(0, 300), groups=st.integers(1, 15))
def test_groups_respect_capacity_and_choices(seed: int, people: int, groups: int) -> None:
    rnd = random.Random(seed)
    preferences = random_preferences(rnd, people, groups, 4)
    capacities = {f"g{i}": rnd.randint(0, 40) for i in range(groups)}
    result = assign_groups(preferences, capacities)
    load = Counter(result.assignment.values())
    assert all(load[g] <= capacities[g] for g in load)
    assert all(group in preferences[person] for person, group in result.assignment.items())
    assert sum(result.by_rank) == len(result.assignment)
    # nobody is left out while one of their groups has room
    for person in result.unassigned:
        assert all(load[g] >= capacities[g] for g in preferences[person])
    assert assign_groups(dict(reversed(list(preferences.items()))), capacities) == result


def test_groups_serve_first_choices_within_capacity() -> None:
    preferences = {"ana": ["klima", "kultur"], "ben": ["klima", "kultur"], "cem": ["kultur", "klima"]}
    result = assign_groups(preferences, {"klima": 1, "kultur": 2, "leer": 0})
    assert result.by_rank == (2, 1)
    assert result.assignment["cem"] == "kultur"
    assert sorted(result.assignment.values()) == ["klima", "kultur", "kultur"]
    # unknown groups and repeated choices are ignored; an empty list leaves someone out
    result = assign_groups({"ana": ["weg", "klima", "klima"], "ben": []}, {"klima": 1})
    assert result.assignment == {"ana": "klima"}
    assert result.unassigned == ("ben",)
    assert result.by_rank == (1,)
