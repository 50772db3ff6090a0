"""Repeatable jobs: a schedule enqueues one job per tick of a cron expression or an interval.

Ticks are computed the same way by every worker (cron in UTC; intervals anchored to the
Unix epoch, so `every=60` ticks on each whole minute), and each backend lets exactly one
worker claim a tick. A worker that was away does not replay missed ticks: the next run is
the next tick after now, as cron does. The job of a tick has the id
`schedule:<schedule id>:<tick in ms>`, so even a tick fired twice (a crash at the wrong
moment on RabbitMQ) enqueues one job while the first is still held.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from croniter import croniter

from shared.workqueue.base import MAX_PRIORITY


@dataclass(frozen=True)
class Schedule:
    """`cron` (5 fields, or 6 with seconds last) or `every` (seconds), not both."""

    id: str
    job_type: str
    payload: dict[str, Any] = field(default_factory=dict)
    cron: str | None = None
    every: float | None = None
    priority: int = 0

    def __post_init__(self) -> None:
        if not self.id or not self.job_type:
            raise ValueError("a schedule needs an id and a job type")
        if (self.cron is None) == (self.every is None):
            raise ValueError("a schedule needs either a cron expression or an interval")
        if self.cron is not None and not croniter.is_valid(self.cron):
            raise ValueError(f"not a cron expression: {self.cron!r}")
        if self.every is not None and not (math.isfinite(self.every) and self.every >= 0.1):
            raise ValueError(f"an interval must be at least 0.1 s: {self.every}")
        if not 0 <= self.priority <= MAX_PRIORITY:
            raise ValueError(f"priority must be within 0..{MAX_PRIORITY}: {self.priority}")

    def next_after(self, moment: float) -> float:
        """The first tick strictly after `moment` (Unix seconds)."""
        if self.every is not None:
            return (math.floor(moment / self.every) + 1) * self.every
        return float(croniter(self.cron, moment).get_next(float))

    def next_after_ms(self, moment_ms: int) -> int:
        return round(self.next_after(moment_ms / 1000) * 1000)

    def job_id(self, tick_ms: int) -> str:
        return f"schedule:{self.id}:{tick_ms}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        return cls(
            id=str(data["id"]),
            job_type=str(data["job_type"]),
            payload=dict(data.get("payload") or {}),
            cron=data.get("cron"),
            every=None if data.get("every") is None else float(data["every"]),
            priority=int(data.get("priority") or 0),
        )
