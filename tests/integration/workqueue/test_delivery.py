"""Delivery semantics, the same for the Redis and the RabbitMQ backend."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from shared.config import Settings
from shared.workqueue import Job, NewJob, Worker, WorkQueue, create_work_queue
from tests.support.wait import eventually


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[Worker]:
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        await worker.stop()
        await asyncio.wait_for(task, 15)


@asynccontextmanager
async def running_all(workers: list[Worker]) -> AsyncIterator[list[Worker]]:
    """Several workers at once, stopped side by side (each stop waits out a claim)."""
    tasks = [asyncio.create_task(worker.run()) for worker in workers]
    try:
        yield workers
    finally:
        await asyncio.gather(*(worker.stop() for worker in workers))
        await asyncio.wait_for(asyncio.gather(*tasks), 15)


async def test_an_enqueued_job_runs_once_with_its_payload(queue: WorkQueue) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    async def handle(job: Job) -> None:
        seen.append((job.id, job.payload))

    await queue.enqueue("greet", {"name": "Ada"}, job_id="job-1")
    async with running(Worker(queue, {"greet": handle}, concurrency=4)):
        await eventually(lambda: _done(queue, 1), what="the job to finish")
    assert seen == [("job-1", {"name": "Ada"})]
    counts = await queue.status()
    assert counts["waiting"] == 0 and counts["failed"] == 0


async def test_an_idle_worker_starts_a_new_job_within_milliseconds(queue: WorkQueue) -> None:
    started: asyncio.Queue[float] = asyncio.Queue()

    async def handle(job: Job) -> None:
        started.put_nowait(time.monotonic() - job.payload["at"])

    async with running(Worker(queue, {"ping": handle})):
        await queue.enqueue("ping", {"at": time.monotonic()})  # warms the subscription up
        await asyncio.wait_for(started.get(), 10)
        await asyncio.sleep(0.3)  # let the worker settle into its blocking wait
        waits = []
        for _ in range(5):
            await queue.enqueue("ping", {"at": time.monotonic()})
            waits.append(await asyncio.wait_for(started.get(), 10))
    # A few milliseconds on a quiet machine (`make bench` measures it). The bounds leave room
    # for a loaded one and still sit below the idle worker's 1 s fallback wake-up, so only a
    # blocking read (not polling) passes.
    assert sorted(waits)[2] < 0.25 and max(waits) < 0.9, waits


async def test_higher_priority_jobs_run_first(queue: WorkQueue) -> None:
    order: list[int] = []

    async def handle(job: Job) -> None:
        order.append(job.priority)

    await queue.enqueue_many([NewJob("tier", {}, priority=p) for p in (0, 1, 5, 0, 9, 1)])
    async with running(Worker(queue, {"tier": handle}, concurrency=1)):
        await eventually(lambda: _len(order, 6), what="all jobs to run")
    assert order == [9, 5, 1, 1, 0, 0]


async def test_a_delayed_job_runs_only_when_it_is_due(queue: WorkQueue) -> None:
    ran_at: list[float] = []

    async def handle(job: Job) -> None:
        ran_at.append(time.monotonic())

    async with running(Worker(queue, {"later": handle})):
        queued_at = time.monotonic()
        await queue.enqueue("later", {}, delay=0.6)
        assert (await queue.status())["delayed"] == 1
        await eventually(lambda: _len(ran_at, 1), what="the delayed job to run")
    assert 0.55 <= ran_at[0] - queued_at < 3.0


async def test_a_job_held_by_a_dead_worker_runs_again_on_another(
    queue: WorkQueue, queue_settings: Settings
) -> None:
    """The dead worker is a client that claims a job and disappears without settling it:
    its connection closes (RabbitMQ redelivers) and its visibility deadline passes (Redis)."""
    await queue.enqueue("orphan", {"n": 1}, job_id="orphan-1")
    dead = create_work_queue(queue_settings)
    claimed = await dead.claim(1, 5)
    assert [job.id for job in claimed] == ["orphan-1"]
    await dead.close()
    runs: list[Job] = []

    async def handle(job: Job) -> None:
        runs.append(job)

    async with running(Worker(queue, {"orphan": handle}, heartbeat=0.3)):
        await eventually(lambda: _len(runs, 1), timeout=15, what="the orphaned job to run")
    assert runs[0].id == "orphan-1"
    assert runs[0].attempt == 2  # the dead worker's claim counted as an attempt


async def test_a_running_job_survives_a_worker_heartbeat_past_the_visibility_timeout(
    queue: WorkQueue,
) -> None:
    runs: list[str] = []
    finished: list[str] = []

    async def slow(job: Job) -> None:
        runs.append(job.id)
        await asyncio.sleep(2.5)  # longer than the 1 s visibility timeout
        finished.append(job.id)

    other_runs: list[str] = []

    async def record(job: Job) -> None:
        other_runs.append(job.id)

    await queue.enqueue("slow", {}, job_id="slow-1")
    async with running(Worker(queue, {"slow": slow}, heartbeat=0.2)):
        await eventually(lambda: _len(runs, 1), what="the slow job to start")
        async with running(Worker(queue, {"slow": record}, heartbeat=0.3)):
            # The second worker is up for the whole run of the slow job.
            await eventually(lambda: _len(finished, 1), timeout=10, what="the slow job to end")
            await eventually(lambda: _done(queue, 1), timeout=10, what="the job settled")
    assert runs == ["slow-1"] and other_runs == []


async def test_graceful_stop_finishes_the_running_jobs_and_takes_no_new_ones(
    queue: WorkQueue,
) -> None:
    finished: list[str] = []
    started = asyncio.Event()

    async def handle(job: Job) -> None:
        started.set()
        await asyncio.sleep(0.5)
        finished.append(job.id)

    await queue.enqueue_many([NewJob("work", {}, job_id=f"j{i}") for i in range(2)])
    worker = Worker(queue, {"work": handle}, concurrency=2)
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 10)
    await queue.enqueue_many([NewJob("work", {}, job_id=f"late{i}") for i in range(3)])
    await worker.stop()
    await asyncio.wait_for(task, 10)
    assert sorted(finished) == ["j0", "j1"]
    await eventually(lambda: _waiting(queue, 3), what="the untaken jobs to wait")


async def test_a_job_id_deduplicates_enqueues(queue: WorkQueue) -> None:
    assert await queue.enqueue("once", {}, job_id="same") is True
    assert await queue.enqueue("once", {}, job_id="same") is False
    flags = await queue.enqueue_many([NewJob("once", {}, job_id=i) for i in ("same", "new")])
    assert flags == [False, True]
    assert (await queue.status())["waiting"] == 2


async def test_producers_racing_to_enqueue_the_same_ids_add_each_job_once(
    queue: WorkQueue, queue_settings: Settings
) -> None:
    others = [create_work_queue(queue_settings) for _ in range(3)]
    ids = [f"r{i}" for i in range(50)]
    try:
        results = await asyncio.gather(
            *(q.enqueue_many([NewJob("race", {}, job_id=i) for i in ids]) for q in [queue, *others])
        )
    finally:
        for other in others:
            await other.close()
    assert [sum(flags) for flags in zip(*results, strict=True)] == [1] * len(ids)
    assert (await queue.status())["waiting"] == len(ids)


async def test_enqueue_many_and_a_concurrent_worker_process_every_job_once(
    queue: WorkQueue,
) -> None:
    seen: dict[str, int] = {}

    async def handle(job: Job) -> None:
        seen[job.id] = seen.get(job.id, 0) + 1

    jobs = [NewJob("bulk", {"i": i}, job_id=f"b{i}") for i in range(2000)]
    await queue.enqueue_many(jobs)
    async with running(Worker(queue, {"bulk": handle}, concurrency=64)):
        await eventually(lambda: _len(seen, 2000), timeout=30, what="every job to run")
    assert set(seen) == {job.job_id for job in jobs}
    assert max(seen.values()) == 1


async def _done(queue: WorkQueue, expected: int) -> bool:
    counts = await queue.status()
    if counts["completed"] is not None:
        return counts["completed"] >= expected
    return counts["waiting"] == 0 and counts["delayed"] == 0


async def _waiting(queue: WorkQueue, expected: int) -> bool:
    return (await queue.status())["waiting"] == expected


async def _len(items: Any, expected: int) -> bool:
    return len(items) >= expected
