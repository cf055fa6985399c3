"""Session planner benchmark: a BarCamp of real size, the planner against the greedy baseline in the same run.

Sessions, participants and their interest are made up from a seed: popularity is skewed (Zipf-like, a few
sessions draw many people), people mark 3 to 12 sessions, about one session in seven has two hosts and some
people host two sessions; the rooms have mixed sizes. Both the planner and the greedy baseline ("most interest
first, into the biggest free room, earliest round") plan the same input; served interest, clashes, people
turned away by full rooms and host conflicts are counted the same way for both (eventkit.model.planner.evaluate_plan).

    python benchmarks/planner.py [--sessions 100] [--people 300] [--rounds 5] [--rooms 12] [--seed 1] [--effort N]

Last line: RESULT planner_s=<x> served=<n> greedy_served=<m> conflicts=<k>
"""

from __future__ import annotations

import argparse
import os
import random
import time

from eventkit.model.planner import DEFAULT_EFFORT, Grid, Plan, Room, Session, evaluate_plan, greedy_plan, plan_sessions

CAPACITIES = [80, 50, 40, 30, 30, 25, 20, 20, 15, 15, 12, 10]
TOPICS = ["Antirassismus", "Ehrenamt", "Förderanträge", "Social Media", "Barrierefreiheit", "Jugendbeteiligung"]


def barcamp(args: argparse.Namespace) -> tuple[list[Session], dict[str, set[str]], Grid]:
    rnd = random.Random(args.seed)  # noqa: S311 - sample data, not security
    people = [f"p{i:03}" for i in range(args.people)]
    sessions = []
    for i in range(args.sessions):
        # the first hosts propose a second session, as the keen ones do
        hosts = [people[i % (args.people // 2 or 1)]]
        if rnd.random() < 0.15:
            hosts.append(rnd.choice(people))
        sessions.append(Session(f"s{i:03}", f"{rnd.choice(TOPICS)} {i}", tuple(dict.fromkeys(hosts))))
    popularity = [1 / (rank + 1) ** 0.9 for rank in range(args.sessions)]
    rnd.shuffle(popularity)
    interest = {}
    for person in people:
        wanted = rnd.choices(sessions, popularity, k=rnd.randint(3, 12))
        interest[person] = {s.id for s in wanted}
    rooms = tuple(Room(f"Raum {k + 1}", CAPACITIES[k % len(CAPACITIES)]) for k in range(args.rooms))
    return sessions, interest, Grid(args.rounds, rooms)


def figures(plan: Plan) -> dict[str, int]:
    count = {"conflicts": 0, "clashes": 0, "over": 0}
    for reason in plan.reasons:
        if reason.code == "host_double_booked":
            count["conflicts"] += 1
        elif reason.code == "interest_clashes":
            count["clashes"] = int(reason.params["missed"])
        elif reason.code == "over_capacity":
            count["over"] += int(reason.params["interested"]) - int(reason.params["capacity"])
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100, help="proposed sessions (default 100)")
    parser.add_argument("--people", type=int, default=300, help="participants (default 300)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--rooms", type=int, default=12, help="rooms per round, mixed sizes (default 12)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the made-up BarCamp (default 1)")
    parser.add_argument(
        "--effort", type=int, default=DEFAULT_EFFORT, help=f"planner's tried moves (default {DEFAULT_EFFORT})"
    )
    args = parser.parse_args()
    sessions, interest, grid = barcamp(args)
    given = sum(len(v) for v in interest.values())
    # nobody attends more sessions than there are rounds
    ceiling = sum(min(args.rounds, len(v)) for v in interest.values())
    load1, _, _ = os.getloadavg()
    print(
        f"planner benchmark: {args.sessions} sessions, {args.people} participants marking {given} interests "
        f"(at most {ceiling} can be served: one session per person and round), {args.rounds} rounds x "
        f"{args.rooms} rooms ({args.rounds * args.rooms} slots, capacities "
        f"{', '.join(str(r.capacity) for r in grid.rooms)}); {os.cpu_count()} cores, load average {load1:.2f}"
    )

    t0 = time.perf_counter()
    baseline = greedy_plan(sessions, interest, grid)
    greedy_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    plan = plan_sessions(sessions, interest, grid, effort=args.effort)
    planner_s = time.perf_counter() - t0

    results = []
    for name, made, seconds in (("greedy", baseline, greedy_s), ("planner", plan, planner_s)):
        checked = evaluate_plan(sessions, interest, grid, made.placements)
        assert checked.served == made.served, "a plan's served interest differs when evaluated again"
        count = figures(checked)
        results.append(count)
        print(
            f"{name:>8}: {seconds:6.3f} s, {len(made.placements)} sessions placed, served {made.served} of "
            f"{ceiling} ({made.served / ceiling:.1%}), missed by clashes {count['clashes']}, turned away by full "
            f"rooms {count['over']}, host conflicts {count['conflicts']}"
        )
    gain = plan.served - baseline.served
    print(f"planner against greedy: {gain:+d} served ({gain / baseline.served:+.1%}); target planner time < 2 s")
    conflicts = results[1]["conflicts"]
    print(
        f"RESULT planner_s={planner_s:.3f} served={plan.served} greedy_served={baseline.served} conflicts={conflicts}"
    )


if __name__ == "__main__":
    main()
