"""A job's events and the queue's per-minute counters, written by the worker as it goes.

Events: `claimed` (with the worker and the attempt's deadline), `completed`, `retried`
(with the error and the retry delay), `failed` (with the error). The enqueue time is the
job's own `enqueued_at`, so producers write nothing here.

Redis keeps them in the queue's keyspace, shared by every worker:
    wq:{name}:events:<id>   list of JSON events, the last EVENTS_KEPT, expiring EVENTS_TTL
                            after the last one (longer than a completed job is kept)
    wq:{name}:minute:<m>    hash of counters of minute m (epoch minutes): completed, failed,
                            retried, hung, and run_ms (the attempts' summed durations);
                            expires after STATS_TTL
RabbitMQ has no keyed store: events and counters stay in the memory of the worker process
that made them (the dashboard of that process shows them); a job's retries and failure
also travel in its message's headers, which outlive the process.

Writing never fails a job nor holds it up: Redis writes go out in the background, many
claims and outcomes in one script call; a broker error is logged and those events are lost.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from shared.logging import get_logger
from shared.workqueue.base import Job, Outcome, WorkQueue

log = get_logger(__name__)

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
_WORKER = json.dumps(WORKER_ID)
EVENTS_KEPT = 50
EVENTS_TTL = 7 * 24 * 3600  # seconds
STATS_TTL = 2 * 3600
MEMORY_JOBS = 10_000  # jobs whose events a process keeps without Redis
COUNTERS = ("completed", "failed", "retried", "hung", "run_ms")
Deadline = Callable[[str], float | None]


def now_ms() -> int:
    return int(time.time() * 1000)


def claimed_event(job: Job, deadline: float | None, at: int) -> dict[str, Any]:
    event: dict[str, Any] = {"event": "claimed", "at": at, "attempt": job.attempt}
    event["worker"] = WORKER_ID
    if deadline is not None:
        event["deadline_at"] = at + int(deadline * 1000)
    return event


def claimed_json(job: Job, deadline: float | None, at: int) -> str:
    """`claimed_event` as JSON text, written by hand: it is made for every job a worker runs
    and holds only numbers and the worker's id (json.dumps costs ten times as much)."""
    tail = "" if deadline is None else f',"deadline_at":{at + int(deadline * 1000)}'
    return f'{{"event":"claimed","at":{at},"attempt":{job.attempt},"worker":{_WORKER}{tail}}}'


def outcome_json(outcome: Outcome, at: int) -> str:
    """`outcome_event` as JSON text; a completed attempt (no error) is written by hand."""
    if outcome.kind == "completed" and not outcome.error and not outcome.hung:
        attempt = outcome.job.attempt
        return f'{{"event":"completed","at":{at},"attempt":{attempt},"worker":{_WORKER}}}'
    return json.dumps(outcome_event(outcome, at), separators=(",", ":"))


def outcome_event(outcome: Outcome, at: int) -> dict[str, Any]:
    kind = {"completed": "completed", "retry": "retried"}.get(outcome.kind, "failed")
    event: dict[str, Any] = {"event": kind, "at": at, "attempt": outcome.job.attempt}
    event["worker"] = WORKER_ID
    if outcome.error:
        event["error"] = outcome.error
    if outcome.kind == "retry":
        event["retry_in_ms"] = int(outcome.delay * 1000)
    if outcome.hung:
        event["hung"] = True
    return event


def minute_counts(outcomes: Sequence[Outcome], runs: dict[str, int]) -> dict[str, int]:
    """Counter increments of one batch of outcomes (`runs`: attempt durations in ms)."""
    counts: dict[str, int] = defaultdict(int)
    for o in outcomes:
        counts[{"completed": "completed", "retry": "retried"}.get(o.kind, "failed")] += 1
        counts["hung"] += int(o.hung)
        counts["run_ms"] += runs.get(o.job.id, 0)
    return counts


class Journal(Protocol):
    async def claimed(
        self, jobs: Sequence[Job], deadline: Deadline, *, events: bool = True
    ) -> None:
        """Note the claims (with `events` False only their start, for the run times)."""
        ...

    async def settled(self, outcomes: Sequence[Outcome], *, events: bool = True) -> None:
        """Count the outcomes per minute and (unless `events` is False) store their events."""
        ...

    async def events(self, job_id: str) -> list[dict[str, Any]]: ...

    async def last_events(self, job_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    async def minutes(self, count: int = 60) -> list[dict[str, int]]:
        """The counters of the last `count` minutes, oldest first, each with its `minute`."""
        ...

    async def forget(self, job_ids: Sequence[str]) -> None: ...

    async def flush(self) -> None:
        """Wait until the events recorded so far are stored."""
        ...


class Starts:
    """When each claimed job started in this process (for attempt durations)."""

    def __init__(self) -> None:
        self.started: dict[str, int] = {}

    def start(self, jobs: Sequence[Job], at: int) -> None:
        if len(self.started) > 100_000:  # claims never settled here (released, cancelled)
            self.started.clear()
        for job in jobs:
            self.started[job.id] = at

    def runs(self, outcomes: Sequence[Outcome], at: int) -> dict[str, int]:
        return {o.job.id: max(0, at - self.started.pop(o.job.id, at)) for o in outcomes}


class MemoryJournal(Starts):
    """The journal of one process (RabbitMQ): the last MEMORY_JOBS jobs' events."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self.counters: dict[int, dict[str, int]] = {}

    def _add(self, job_id: str, event: dict[str, Any]) -> None:
        events = self.jobs.pop(job_id, [])
        self.jobs[job_id] = [*events, event][-EVENTS_KEPT:]
        while len(self.jobs) > MEMORY_JOBS:
            self.jobs.popitem(last=False)

    async def claimed(
        self, jobs: Sequence[Job], deadline: Deadline, *, events: bool = True
    ) -> None:
        at = now_ms()
        self.start(jobs, at)
        for job in jobs if events else ():
            self._add(job.id, claimed_event(job, deadline(job.type), at))

    async def settled(self, outcomes: Sequence[Outcome], *, events: bool = True) -> None:
        at = now_ms()
        runs = self.runs(outcomes, at)
        for o in outcomes if events else ():
            self._add(o.job.id, outcome_event(o, at))
        minute = at // 60_000
        bucket = self.counters.setdefault(minute, dict.fromkeys(COUNTERS, 0))
        for name, value in minute_counts(outcomes, runs).items():
            bucket[name] += value
        for old in [m for m in self.counters if m < minute - STATS_TTL // 60]:
            del self.counters[old]

    async def events(self, job_id: str) -> list[dict[str, Any]]:
        return list(self.jobs.get(job_id, []))

    async def last_events(self, job_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {i: self.jobs[i][-1] for i in job_ids if self.jobs.get(i)}

    async def minutes(self, count: int = 60) -> list[dict[str, int]]:
        last = now_ms() // 60_000
        return [
            counters(m, {k: str(v) for k, v in self.counters.get(m, {}).items()})
            for m in range(last - count + 1, last + 1)
        ]

    async def forget(self, job_ids: Sequence[str]) -> None:
        for job_id in job_ids:
            self.jobs.pop(job_id, None)

    async def flush(self) -> None:
        """Nothing to wait for: memory is written at once."""


def counters(minute: int, row: dict[str, str]) -> dict[str, int]:
    return {"minute": minute, **{name: int(row.get(name, 0)) for name in COUNTERS}}


_MEMORY: dict[str, MemoryJournal] = {}


def journal_for(queue: WorkQueue) -> Journal:
    """The journal of `queue`: in its Redis, or (RabbitMQ) this process's one per queue name."""
    from shared.workqueue.history_redis import RedisJournal
    from shared.workqueue.redis_backend import RedisWorkQueue

    if isinstance(queue, RedisWorkQueue):
        return RedisJournal(queue.redis, queue.prefix)
    return _MEMORY.setdefault(queue.name, MemoryJournal())
