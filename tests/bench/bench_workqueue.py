"""Work queue against its peers: no-op jobs enqueued with `enqueue_many` and processed by one
worker (one asyncio loop, in the benchmark's process), completed jobs not kept, per backend,
plus the pickup latency of a single job reaching an idle worker. Each peer runs the same job
count and concurrency on the same Redis or RabbitMQ, in a process of its own
(tests/bench/queue_peers.py); the ratios are ours over theirs.
Run alone: `python -m tests.bench bench_workqueue`."""

from __future__ import annotations

import asyncio
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

from shared.config import Settings
from shared.workqueue import Job, NewJob, Worker, WorkQueue, create_work_queue
from shared.workqueue.base import admin
from tests.bench import queue_peers
from tests.bench.results import Result, figure, ratio

SIZES = {"redis": 20_000, "amqp": 10_000}
CONCURRENCY = {"redis": 200, "amqp": 200}
LATENCY_SAMPLES = 50
RUNS = 3
# The peers of each backend (none in the smoke test: they are installed by make bench-peers).
PEERS = {"redis": queue_peers.REDIS_PEERS, "amqp": ["aio-pika"]}


def countdown(jobs: int) -> tuple[Callable[[Job], Awaitable[None]], asyncio.Event]:
    """A no-op handler and the event it sets once it has run `jobs` times."""
    remaining = jobs
    all_done = asyncio.Event()

    async def noop(job: Job) -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0:
            all_done.set()

    return noop, all_done


async def _throughput(queue: WorkQueue, jobs: int, concurrency: int) -> tuple[float, float]:
    batch = [NewJob("noop", {"i": i}) for i in range(jobs)]
    started = time.perf_counter()
    await queue.enqueue_many(batch)
    enqueue_rate = jobs / (time.perf_counter() - started)

    noop, all_done = countdown(jobs)
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


async def _ours(settings: Settings, backend: str) -> list[Result]:
    jobs, concurrency = SIZES[backend], CONCURRENCY[backend]
    rates, latency = [], []
    for i in range(RUNS):
        queue = create_work_queue(
            settings.model_copy(
                update={
                    "work_queue_backend": backend,
                    "work_queue_name": f"bench-{uuid.uuid4().hex[:10]}",
                    "work_queue_keep_completed": 0,
                }
            )
        )
        try:
            rates.append(await _throughput(queue, jobs, concurrency))
            if i == 0:
                latency = sorted(await _latency(queue))
        finally:
            await admin(queue).delete_everything()
            await queue.close()
    notes = f"{jobs:,} jobs, concurrency {concurrency}, {RUNS} runs"
    pickup = f"{len(latency)} single jobs to an idle worker"
    return [
        figure(f"{backend}: enqueue_many", [r[0] for r in rates], "jobs/s", notes),
        figure(f"{backend}: process no-op jobs", [r[1] for r in rates], "jobs/s", notes),
        Result(f"{backend}: pickup latency p50", statistics.median(latency) * 1000, "ms", pickup),
        Result(f"{backend}: pickup latency max", latency[-1] * 1000, "ms", pickup),
    ]


def _peers(settings: Settings, backend: str, ours: list[Result]) -> list[Result]:
    url = settings.redis_url if backend == "redis" else settings.amqp_url
    results = []
    for peer in PEERS[backend]:
        try:
            theirs = queue_peers.measure(peer, url, SIZES[backend], CONCURRENCY[backend], RUNS)
        except (FileNotFoundError, RuntimeError) as exc:
            results.append(Result(f"{peer}: not measured", 0, "-", str(exc)))
            continue
        results += [
            *theirs,
            ratio(f"{backend} / {peer}: enqueue", ours[0], theirs[0]),
            ratio(f"{backend} / {peer}: process", ours[1], theirs[1]),
        ]
    return results


async def run(settings: Settings) -> list[Result]:
    results = []
    for backend in ("redis", "amqp"):
        ours = await _ours(settings, backend)
        results += ours + await asyncio.to_thread(_peers, settings, backend, ours)
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
