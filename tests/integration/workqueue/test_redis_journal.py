"""The Redis journal: a short attempt's claim is written with its outcome, a long one's on
its own within about a second; without job events only the minute is counted; and a settle
batch applies each claim once."""

from __future__ import annotations

import asyncio
import time

import pytest

from shared.workqueue import Job, NewJob, Outcome, Worker, WorkQueue
from shared.workqueue.history import WORKER_ID, journal_for
from shared.workqueue.history_redis import CLAIM_LINGER
from tests.support.wait import eventually

pytestmark = pytest.mark.parametrize("backend", ["redis"])


async def _events(queue: WorkQueue, job_id: str) -> list[str]:
    return [e["event"] for e in await journal_for(queue).events(job_id)]


async def test_a_quick_jobs_claim_and_completion_are_stored_in_order(queue: WorkQueue) -> None:
    await queue.enqueue("quick", {}, job_id="q1")
    worker = Worker(queue, {"quick": _nothing}, concurrency=4, deadlines={"quick": 5.0})
    task = asyncio.create_task(worker.run())
    try:
        await eventually(lambda: _has_events(queue, "q1", 2), what="the job's events")
    finally:
        await worker.stop()
        await task
    claimed, completed = await journal_for(queue).events("q1")
    assert (claimed["event"], completed["event"]) == ("claimed", "completed")
    assert claimed["worker"] == completed["worker"] == WORKER_ID
    assert claimed["deadline_at"] - claimed["at"] == 5000
    assert claimed["at"] <= completed["at"]


async def test_a_long_jobs_claim_is_stored_while_it_runs(queue: WorkQueue) -> None:
    """The console names the worker of a running job from its claim event."""
    release = asyncio.Event()

    async def slow(job: Job) -> None:
        await release.wait()

    await queue.enqueue("slow", {}, job_id="s1")
    worker = Worker(queue, {"slow": slow}, concurrency=4, heartbeat=0.3)  # visibility: 1 s
    task = asyncio.create_task(worker.run())
    started = time.monotonic()
    try:
        await eventually(
            lambda: _has_events(queue, "s1", 1), timeout=CLAIM_LINGER + 5, what="the claim"
        )
        assert time.monotonic() - started >= CLAIM_LINGER * 0.9  # it waited for an outcome
        assert await _events(queue, "s1") == ["claimed"]
        release.set()
        await eventually(lambda: _has_events(queue, "s1", 2), what="the completion")
    finally:
        release.set()
        await worker.stop()
        await task
    assert await _events(queue, "s1") == ["claimed", "completed"]


async def test_a_worker_without_job_events_still_counts_the_minute(queue: WorkQueue) -> None:
    await queue.enqueue_many([NewJob("quick", {}, job_id=f"n{i}") for i in range(3)])
    worker = Worker(queue, {"quick": _nothing}, concurrency=4, job_events=False)
    task = asyncio.create_task(worker.run())
    try:
        await eventually(lambda: _completed_this_minute(queue, 3), what="3 counted")
    finally:
        await worker.stop()
        await task
    assert [await _events(queue, f"n{i}") for i in range(3)] == [[], [], []]


async def _completed_this_minute(queue: WorkQueue, count: int) -> bool:
    return sum(m["completed"] for m in await journal_for(queue).minutes(2)) >= count


async def test_one_claims_outcome_sent_twice_in_a_batch_is_applied_once(
    queue: WorkQueue,
) -> None:
    await queue.enqueue("work", {}, job_id="twice")
    (job,) = await queue.claim(1, 0)
    await queue.settle([Outcome(job, "retry", 0.0, "ValueError: x"), Outcome(job, "completed")])
    stored = await queue.inspect("twice")
    assert stored is not None and stored["state"] == "delayed"
    assert len(stored["history"]) == 1


async def _nothing(job: Job) -> None:
    return None


async def _has_events(queue: WorkQueue, job_id: str, count: int) -> bool:
    return len(await _events(queue, job_id)) >= count
