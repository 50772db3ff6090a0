"""Flow control, the same on both backends: pause and resume, promote, a global rate limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from shared.config import Settings
from shared.workqueue import Job, NewJob, RateLimit, Worker, WorkQueue, create_work_queue
from tests.integration.workqueue.test_delivery import running, running_all
from tests.support.wait import eventually


@pytest.fixture
async def operator(queue: WorkQueue, queue_settings: Settings) -> AsyncIterator[WorkQueue]:
    """A second client of the same queue, as the CLI or the console would be."""
    other = create_work_queue(queue_settings)
    yield other
    await other.close()


async def test_a_paused_queue_takes_nothing_until_resumed(
    queue: WorkQueue, operator: WorkQueue
) -> None:
    ran: list[str] = []
    release = asyncio.Event()

    async def handle(job: Job) -> None:
        ran.append(job.id)
        if job.id == "inflight":
            await release.wait()

    async with running(Worker(queue, {"work": handle}, concurrency=4, heartbeat=0.3)):
        await queue.enqueue("work", {}, job_id="inflight")
        await eventually(lambda: _has(ran, "inflight"), what="the first job to start")
        await operator.pause()
        assert await operator.is_paused() is True
        # Every worker sees a pause within its poll interval; this one reports it.
        await eventually(lambda: _true(queue.paused), what="the worker to see the pause")
        await operator.enqueue_many([NewJob("work", {}, job_id=f"p{i}") for i in range(4)])
        await operator.enqueue("work", {}, job_id="p4", delay=0.3)
        # The delayed job falls due and waits too: time passes, the worker takes nothing.
        await eventually(lambda: _waiting(operator, 5), what="five jobs waiting")
        assert ran == ["inflight"]
        await operator.resume()
        assert await operator.is_paused() is False
        await eventually(lambda: _count(ran, 6), what="the waiting jobs to run after resume")
        release.set()  # the job that ran through the pause and the resume finishes once
        await eventually(lambda: _settled(operator), what="every job to be settled")
    assert sorted(ran[1:]) == [f"p{i}" for i in range(5)]
    assert ran.count("inflight") == 1


async def test_a_promoted_delayed_job_runs_now(queue: WorkQueue, operator: WorkQueue) -> None:
    ran: list[str] = []

    async def handle(job: Job) -> None:
        ran.append(job.id)

    await queue.enqueue("later", {}, job_id="tomorrow", delay=86_400)
    await queue.enqueue("later", {}, job_id="next-week", delay=7 * 86_400)
    assert await operator.promote("nobody") is False
    async with running(Worker(queue, {"later": handle})):
        assert await operator.promote("tomorrow") is True
        await eventually(lambda: _count(ran, 1), what="the promoted job to run")
    assert ran == ["tomorrow"]
    assert (await queue.status())["delayed"] == 1
    assert await operator.promote("tomorrow") is False  # it is no longer delayed


async def test_a_rate_limit_holds_for_all_workers_together(
    queue: WorkQueue, queue_settings: Settings
) -> None:
    """45 jobs at 15 per half second: three windows, so at least 1 s across three workers
    (the full-size run, 1,000 jobs at 100 per second, is in tests/faults)."""
    started: list[float] = []

    async def handle(job: Job) -> None:
        started.append(time.monotonic())

    limit = RateLimit(15, per=0.5)
    await queue.enqueue_many([NewJob("api", {"i": i}) for i in range(45)])
    clients = [create_work_queue(queue_settings) for _ in range(2)]
    workers = [Worker(q, {"api": handle}, rate_limit=limit) for q in [queue, *clients]]
    begin = time.monotonic()
    try:
        async with running_all(workers):
            await eventually(lambda: _count(started, 45), timeout=20, what="every job to run")
    finally:
        for client in clients:
            await client.close()
    elapsed = max(started) - begin
    assert elapsed >= 0.95, elapsed
    # No window holds more than the limit (a sliding window on RabbitMQ, fixed on Redis).
    first = min(started)
    assert sum(1 for t in started if t - first < 0.48) <= 15


async def _has(items: list[str], item: str) -> bool:
    return item in items


async def _true(value: bool) -> bool:
    return value


async def _count(items: list[object], expected: int) -> bool:
    return len(items) >= expected


async def _waiting(queue: WorkQueue, expected: int) -> bool:
    return (await queue.status())["waiting"] == expected


async def _settled(queue: WorkQueue) -> bool:
    counts = await queue.status()
    if counts["completed"] is not None:
        return counts["completed"] == 6
    return counts["waiting"] == 0 and counts["delayed"] == 0
