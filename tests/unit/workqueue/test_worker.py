"""The worker's decisions against an in-memory queue: retries, give-ups, broker errors."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.workqueue import Job, Outcome, PermanentError, RetryPolicy, Worker


class MemoryQueue:
    """Just enough of a WorkQueue to drive a Worker; `errors` are raised by claims first."""

    name = "memory"
    backend = "memory"
    paused = False

    def __init__(self, jobs: list[Job], errors: list[Exception] | None = None) -> None:
        self.jobs = jobs
        self.errors = errors or []
        self.outcomes: list[Outcome] = []
        self.settled = asyncio.Event()

    async def claim(
        self, count: int, timeout: float, *, limit: Any = None, group_limit: int = 0
    ) -> list[Job]:
        if self.errors:
            raise self.errors.pop(0)
        taken, self.jobs = self.jobs[:count], self.jobs[count:]
        if not taken:
            await asyncio.sleep(0.01)
        return taken

    async def settle(self, outcomes: list[Outcome]) -> None:
        self.outcomes += outcomes
        self.settled.set()

    async def extend(self, jobs: list[Job]) -> None:
        return None

    async def release(self, jobs: list[Job]) -> None:
        self.jobs[:0] = jobs

    async def stop_claiming(self) -> None:
        return None

    async def fire_schedules(self) -> tuple[int, float | None]:
        return 0, None


def job(attempt: int = 1, job_type: str = "work") -> Job:
    return Job("j1", job_type, {}, 0, attempt, 0.0)


async def run_until_settled(queue: MemoryQueue, handlers: dict[str, Any], **options: Any) -> None:
    worker = Worker(queue, handlers, **options)  # type: ignore[arg-type]
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(queue.settled.wait(), 10)
    await worker.stop()
    await asyncio.wait_for(task, 10)


async def ok(job: Job) -> None:
    return None


async def boom(job: Job) -> None:
    raise ValueError("bad input")


async def test_the_worker_keeps_claiming_after_an_unexpected_broker_error() -> None:
    queue = MemoryQueue([job()], errors=[RuntimeError("protocol hiccup"), OSError("reset")])
    await run_until_settled(queue, {"work": ok})
    assert [o.kind for o in queue.outcomes] == ["completed"]


async def test_a_failed_attempt_is_retried_after_a_backoff_until_the_last_one() -> None:
    policy = RetryPolicy(max_attempts=3, base=2.0, jitter=0.0)
    queue = MemoryQueue([job(attempt=2)])
    await run_until_settled(queue, {"work": boom}, retry={"work": policy})
    (outcome,) = queue.outcomes
    assert (outcome.kind, outcome.delay, outcome.error) == ("retry", 4.0, "ValueError: bad input")

    last = MemoryQueue([job(attempt=3)])
    await run_until_settled(last, {"work": boom}, retry={"work": policy})
    assert [o.kind for o in last.outcomes] == ["failed"]
    assert "ValueError: bad input" in last.outcomes[0].traceback


async def test_a_permanent_error_skips_the_remaining_attempts() -> None:
    async def hopeless(job: Job) -> None:
        raise PermanentError("customer does not exist")

    queue = MemoryQueue([job()])
    await run_until_settled(queue, {"work": hopeless})
    assert [o.kind for o in queue.outcomes] == ["failed"]


async def test_a_job_claimed_past_its_max_attempts_fails_without_running() -> None:
    ran: list[Job] = []

    async def record(job: Job) -> None:
        ran.append(job)

    queue = MemoryQueue([job(attempt=6)])  # its workers kept dying: five stalled claims
    await run_until_settled(queue, {"work": record}, default_retry=RetryPolicy(max_attempts=5))
    assert ran == []
    assert queue.outcomes[0].kind == "failed"
    assert "attempts exhausted" in queue.outcomes[0].error


async def test_a_job_of_an_unknown_type_fails_at_once() -> None:
    queue = MemoryQueue([job(job_type="mystery")])
    await run_until_settled(queue, {"work": ok})
    assert [(o.kind, o.error) for o in queue.outcomes] == [
        ("failed", "PermanentError: no handler for job type 'mystery'")
    ]


async def test_a_handler_past_the_default_deadline_is_cancelled_and_marked_hung() -> None:
    async def sleepy(job: Job) -> None:
        await asyncio.sleep(10)

    queue = MemoryQueue([job()])
    await run_until_settled(queue, {"work": sleepy}, default_deadline=0.05)
    (outcome,) = queue.outcomes
    assert (outcome.kind, outcome.hung) == ("retry", True)
    assert outcome.error == "DeadlineExceeded: the attempt ran past its 0.05 s deadline"


async def test_a_handlers_own_timeout_is_an_ordinary_failure_not_a_hung_attempt() -> None:
    async def times_out(job: Job) -> None:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(1)

    queue = MemoryQueue([job()])
    await run_until_settled(queue, {"work": times_out}, default_deadline=5.0)
    (outcome,) = queue.outcomes
    assert (outcome.kind, outcome.hung) == ("retry", False)
    assert outcome.error.startswith("TimeoutError")
