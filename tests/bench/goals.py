"""The goals of the performance issue, by figure name, for the summary at the top of
docs/BENCHMARKS.md: each says whether the run met it."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

from tests.bench.results import Result


@dataclass(frozen=True)
class Goal:
    compare: Callable[[float, float], bool]
    bound: float
    text: str


AT_LEAST = operator.ge
UNDER = operator.lt

GOALS: dict[str, Goal] = {
    "POST /bookings / pgbench": Goal(AT_LEAST, 0.5, "at least 0.5"),
    "accept / pgbench": Goal(AT_LEAST, 0.5, "at least 0.5"),
    "POST /checkout / pgbench": Goal(AT_LEAST, 0.5, "at least 0.5"),
    "GET /available-slots / pgbench": Goal(AT_LEAST, 0.5, "at least 0.5"),
    "GET /wallet / pgbench": Goal(AT_LEAST, 0.5, "at least 0.5"),
    "POST /bookings: p99 at half load": Goal(UNDER, 25, "under 25 ms"),
    "accept: p99 at half load": Goal(UNDER, 25, "under 25 ms"),
    "POST /checkout: p99 at half load": Goal(UNDER, 25, "under 25 ms"),
    "redis / bullmq: enqueue": Goal(AT_LEAST, 2, "at least 2"),
    "redis / bullmq: process": Goal(AT_LEAST, 2, "at least 2"),
    "amqp / aio-pika: enqueue": Goal(AT_LEAST, 0.8, "at least 0.8"),
    "amqp / aio-pika: process": Goal(AT_LEAST, 0.8, "at least 0.8"),
    "all four: calls per delivered event": Goal(UNDER, 0.4, "at most 0.4 (3.0 naive)"),
    "reward end to end: p99 at 200 checkouts/s": Goal(UNDER, 100, "under 100 ms"),
    "booking end to end: p99 at 100 accepts/s": Goal(UNDER, 300, "under 300 ms"),
}
GROWTH = Goal(UNDER, 10, "under 10 %")


def goal_of(result: Result) -> Goal | None:
    if "RSS growth" in result.name:
        return GROWTH
    return GOALS.get(result.name)


def summary(results: list[Result]) -> list[str]:
    """Markdown rows: every figure that has a goal, with its range and whether it is met."""
    lines = [
        "| measure | median | min to max | goal | met |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    for r in results:
        goal = goal_of(r)
        if goal is None:
            continue
        spread = (
            "" if r.runs < 2 or r.low is None or r.high is None else f"{r.low:.2f} to {r.high:.2f}"
        )
        met = "yes" if goal.compare(r.value, goal.bound) else "**no**"
        lines.append(f"| {r.name} | {r.value:.2f} | {spread} | {goal.text} | {met} |")
    return lines
