"""The work queue's vocabulary: jobs, outcomes, retry policies and the backend protocol."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from shared.retry import backoff_delay

if TYPE_CHECKING:
    from shared.workqueue.schedules import Schedule

STATES = ("waiting", "active", "delayed", "failed", "completed")
MAX_PRIORITY = 255


class QueueUnavailable(Exception):
    """The broker cannot be reached right now; the caller may retry later."""


@dataclass(frozen=True)
class NewJob:
    """A job to enqueue. Higher `priority` runs first; `delay` is in seconds."""

    job_type: str
    payload: dict[str, Any]
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    priority: int = 0
    delay: float = 0.0
    group: str | None = None  # a concurrency group: a worker's group_limit caps its running jobs

    def __post_init__(self) -> None:
        if not 0 <= self.priority <= MAX_PRIORITY:
            raise ValueError(f"priority must be within 0..{MAX_PRIORITY}: {self.priority}")
        if self.delay < 0:
            raise ValueError("delay must not be negative")


@dataclass
class Job:
    """A job as a worker holds it. `attempt` counts from 1; `receipt` is the backend's handle."""

    id: str
    type: str
    payload: dict[str, Any]
    priority: int
    attempt: int
    enqueued_at: float
    history: list[dict[str, Any]] = field(default_factory=list)
    receipt: Any = None
    group: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What happened to a job: done, retry after `delay` seconds, or failed for good."""

    job: Job
    kind: str  # "completed" | "retry" | "failed"
    delay: float = 0.0
    error: str = ""
    traceback: str = ""
    hung: bool = False  # the attempt ran past its deadline and was cancelled


@dataclass(frozen=True)
class RateLimit:
    """At most `max_jobs` jobs start per `per` seconds, across every worker of the queue."""

    max_jobs: int
    per: float = 1.0

    def __post_init__(self) -> None:
        if self.max_jobs < 1 or self.per <= 0:
            raise ValueError(f"a rate limit needs max_jobs >= 1 and per > 0: {self}")

    @property
    def window_ms(self) -> int:
        return max(1, int(self.per * 1000))


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per job type and exponential backoff with jitter between them."""

    max_attempts: int = 5
    base: float = 1.0
    cap: float = 300.0
    jitter: float = 0.5  # the delay is scaled by a random factor in [1 - jitter, 1]

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt `attempt` (1, 2, ...): base * 2^(attempt-1)."""
        return backoff_delay(attempt - 1, base=self.base, cap=self.cap, jitter=self.jitter)


class BatchEnqueue:
    """`enqueue` for a backend whose one round trip is `enqueue_many`."""

    async def enqueue(
        self,
        job_type: str,
        payload: dict[str, Any],
        *,
        job_id: str | None = None,
        priority: int = 0,
        delay: float = 0.0,
    ) -> bool:
        if job_id is None:
            job = NewJob(job_type, payload, priority=priority, delay=delay)
        else:
            job = NewJob(job_type, payload, job_id, priority, delay)
        return (await self.enqueue_many([job]))[0]

    async def enqueue_many(self, jobs: list[NewJob]) -> list[bool]:
        raise NotImplementedError


class WorkQueue(Protocol):
    """What producers, workers and operators use, whatever the broker."""

    name: str
    backend: str

    async def enqueue(
        self,
        job_type: str,
        payload: dict[str, Any],
        *,
        job_id: str | None = None,
        priority: int = 0,
        delay: float = 0.0,
    ) -> bool:
        """Add a job; False when a job with this id is already known."""
        ...

    async def enqueue_many(self, jobs: list[NewJob]) -> list[bool]:
        """Add many jobs in as few round trips as the broker allows."""
        ...

    async def status(self) -> dict[str, int | None]:
        """Job counts by state (None when the broker cannot tell)."""
        ...

    async def claim(
        self,
        count: int,
        timeout: float,
        *,
        limit: RateLimit | None = None,
        group_limit: int = 0,
    ) -> list[Job]:
        """Take up to `count` jobs, blocking up to `timeout` seconds for the first one; none
        while the queue is paused, no more than `limit` leaves across all workers, and no job
        of a group that has `group_limit` jobs running (0: no limit)."""
        ...

    paused: bool
    """Whether this client's last claim found the queue paused."""

    async def pause(self) -> None:
        """Workers stop taking jobs (running ones finish); every worker of the queue sees it."""
        ...

    async def resume(self) -> None: ...

    async def is_paused(self) -> bool: ...

    async def promote(self, job_id: str) -> bool:
        """Run a delayed job (or a retry waiting out its backoff) now; False if none."""
        ...

    async def settle(self, outcomes: list[Outcome]) -> None:
        """Record outcomes of claimed jobs (ack, schedule a retry, or move to failed)."""
        ...

    async def extend(self, jobs: list[Job]) -> None:
        """Tell the broker these jobs are still being worked on (visibility heartbeat)."""
        ...

    async def release(self, jobs: list[Job]) -> None:
        """Give claimed but unstarted jobs back (graceful shutdown)."""
        ...

    async def stop_claiming(self) -> None:
        """Stop receiving jobs and give back any the broker pushed ahead (graceful shutdown)."""
        ...

    async def failed(self, start: int = 0, count: int = 50) -> list[dict[str, Any]]:
        """Failed jobs, newest first."""
        ...

    async def inspect(self, job_id: str) -> dict[str, Any] | None: ...

    async def retry_failed(self, job_id: str) -> bool:
        """Move one failed job back to waiting with fresh attempts."""
        ...

    async def retry_all_failed(self) -> int: ...

    async def remove(self, job_id: str) -> bool: ...

    async def purge_completed(self) -> int: ...

    async def add_schedule(self, schedule: Schedule) -> None:
        """Add a repeatable job (or replace the schedule with its id)."""
        ...

    async def remove_schedule(self, schedule_id: str) -> bool: ...

    async def schedules(self) -> list[dict[str, Any]]:
        """Every schedule's definition and its next tick (`next_at`, Unix seconds)."""
        ...

    async def fire_schedules(self) -> tuple[int, float | None]:
        """Enqueue the job of each due tick, once across all workers; returns (jobs
        enqueued, seconds until the next tick or None without schedules)."""
        ...

    async def ping(self) -> None: ...

    async def verify(self) -> None:
        """Refuse a broker that may drop jobs on its own (raises); warn of one that keeps
        nothing across a restart."""
        ...

    async def close(self) -> None: ...


def claims_in_flight(queue: WorkQueue) -> int:
    """How many `claim` calls a worker may have waiting at once on this queue: a backend that
    is safe to claim from concurrently says so with a `claims_in_flight` attribute (Redis: 2,
    each claim one atomic script); any other gets one at a time."""
    return max(1, int(getattr(queue, "claims_in_flight", 1)))


@runtime_checkable
class QueueAdmin(Protocol):
    """What tests and clean-up tools may do that no producer or worker needs."""

    async def delete_everything(self) -> None:
        """Remove every key or queue of this work queue from the broker."""
        ...


def admin(queue: WorkQueue) -> QueueAdmin:
    """The admin side of a queue (both backends have one)."""
    if not isinstance(queue, QueueAdmin):
        raise TypeError(f"{type(queue).__name__} has no admin operations")
    return queue
