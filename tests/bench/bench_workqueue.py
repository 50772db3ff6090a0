"""Work queue: no-op jobs enqueued with `enqueue_many` and processed by one worker process
(one asyncio loop), per backend, plus the pickup latency of a single job reaching an idle
worker. For scale: on a 2-core machine Bull 4 processes about 17,000 no-op jobs/s, and
arq and SAQ about 1,500.
Run alone: `python -m tests.bench.bench_workqueue`."""

from __future__ import annotations

import asyncio
import secrets
import statistics
import sys
import time
import uuid

from shared.config import Settings
from shared.workqueue import Job, NewJob, Worker, WorkQueue, create_work_queue
from shared.workqueue.base import admin
from tests.bench.results import Result

SIZES = {"redis": 50_000, "amqp": 10_000}
CONCURRENCY = {"redis": 200, "amqp": 200}
LATENCY_SAMPLES = 50


async def _throughput(queue: WorkQueue, jobs: int, concurrency: int) -> tuple[float, float]:
    batch = [NewJob("noop", {"i": i}) for i in range(jobs)]
    started = time.perf_counter()
    await queue.enqueue_many(batch)
    enqueue_rate = jobs / (time.perf_counter() - started)

    remaining = jobs
    all_done = asyncio.Event()

    async def noop(job: Job) -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0:
            all_done.set()

    worker = Worker(queue, {"noop": noop}, concurrency=concurrency)
    started = time.perf_counter()
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(all_done.wait(), 300)
    process_rate = jobs / (time.perf_counter() - started)
    await worker.stop()
    await task
    return enqueue_rate, process_rate


async def _latency(queue: WorkQueue) -> list[float]:
    """Seconds from enqueue to the handler's start, one job at a time, worker idle."""
    started: asyncio.Queue[float] = asyncio.Queue()

    async def ping(job: Job) -> None:
        started.put_nowait(time.perf_counter() - job.payload["at"])

    worker = Worker(queue, {"ping": ping}, concurrency=4)
    task = asyncio.create_task(worker.run())
    samples = []
    for i in range(LATENCY_SAMPLES + 1):
        await queue.enqueue("ping", {"at": time.perf_counter()})
        value = await asyncio.wait_for(started.get(), 10)
        if i:  # the first one also pays for the subscription
            samples.append(value)
        await asyncio.sleep(0.02)  # let the worker go idle again
    await worker.stop()
    await task
    return samples


async def run(settings: Settings) -> list[Result]:
    results = []
    for backend in ("redis", "amqp"):
        queue = create_work_queue(
            settings.model_copy(
                update={
                    "work_queue_backend": backend,
                    "work_queue_name": f"bench-{uuid.uuid4().hex[:10]}",
                    "work_queue_keep_completed": 1_000,
                }
            )
        )
        try:
            jobs = SIZES[backend]
            enqueue_rate, process_rate = await _throughput(queue, jobs, CONCURRENCY[backend])
            latency = sorted(await _latency(queue))
        finally:
            await admin(queue).delete_everything()
            await queue.close()
        notes = f"{jobs:,} jobs, concurrency {CONCURRENCY[backend]}"
        results += [
            Result(f"{backend}: enqueue_many", enqueue_rate, "jobs/s", notes),
            Result(f"{backend}: process no-op jobs", process_rate, "jobs/s", notes),
            Result(
                f"{backend}: pickup latency p50",
                statistics.median(latency) * 1000,
                "ms",
                f"{len(latency)} single jobs to an idle worker",
            ),
            Result(
                f"{backend}: pickup latency max",
                latency[-1] * 1000,
                "ms",
                f"{len(latency)} single jobs to an idle worker",
            ),
        ]
    return results


def main() -> None:
    from shared.logging import configure_logging

    configure_logging("bench", "WARNING", json=True)
    # A random secret: the settings refuse to exist without one, and the bench signs nothing.
    settings = Settings(
        work_queue_name="bench", log_level="WARNING", jwt_secret=secrets.token_urlsafe(48)
    )
    for result in asyncio.run(run(settings)):
        print(f"{result.name:36} {result.value:12,.1f} {result.unit:7} {result.notes}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
