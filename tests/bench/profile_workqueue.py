"""The Redis worker's hot path alone, for a profiler: enqueue JOBS no-op jobs, then one
worker (concurrency 200, completed jobs not kept) runs them; prints the rate and the CPU
each job cost Redis (from INFO cpu) and this process, and with --commands the Redis
commands per job (INFO commandstats; other clients of the same Redis count too).

    python -m tests.bench.profile_workqueue [JOBS] [--no-events] [--commands]
    py-spy record -f flamegraph -o docs/perf/x.svg -- python -m tests.bench.profile_workqueue
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
import uuid
from typing import Any

import redis.asyncio as aioredis

from shared.config import Settings
from shared.workqueue import Job, NewJob, Worker, create_work_queue
from shared.workqueue.base import admin


async def _redis_stats(client: Any) -> tuple[float, dict[str, int]]:
    cpu = await client.info("cpu")
    commands = await client.info("commandstats")
    calls = {name.removeprefix("cmdstat_"): int(row["calls"]) for name, row in commands.items()}
    return float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]), calls


async def main(jobs: int, events: bool, commands: bool) -> None:
    settings = Settings(log_level="WARNING", jwt_secret=secrets.token_urlsafe(48))
    settings = settings.model_copy(
        update={
            "work_queue_name": f"profile-{uuid.uuid4().hex[:8]}",
            "work_queue_keep_completed": 0,
        }
    )
    queue = create_work_queue(settings)
    client = aioredis.Redis.from_url(settings.redis_url)
    remaining = jobs
    done = asyncio.Event()

    async def noop(job: Job) -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0:
            done.set()

    try:
        await queue.enqueue_many([NewJob("noop", {"i": i}) for i in range(jobs)])
        options: dict[str, Any] = {} if events else {"job_events": False}
        worker = Worker(queue, {"noop": noop}, concurrency=200, **options)
        redis_cpu, calls = await _redis_stats(client)
        cpu, started = time.process_time(), time.perf_counter()
        task = asyncio.create_task(worker.run())
        await done.wait()
        wall = time.perf_counter() - started
        await worker.stop()
        await task
        cpu_after, (redis_after, calls_after) = time.process_time(), await _redis_stats(client)
        on_redis = 1e6 * (redis_after - redis_cpu) / jobs
        on_worker = 1e6 * (cpu_after - cpu) / jobs
        print(
            f"{jobs / wall:,.0f} jobs/s; CPU per job: Redis {on_redis:.1f} us,"
            f" worker {on_worker:.1f} us; load {os.getloadavg()[0]:.1f}"
        )
        if commands:
            for name, count in sorted(calls_after.items(), key=lambda kv: kv[0]):
                if (per_job := (count - calls.get(name, 0)) / jobs) >= 0.01:
                    print(f"  {name:24} {per_job:6.2f} per job")
    finally:
        await admin(queue).delete_everything()
        await queue.close()
        await client.aclose()


if __name__ == "__main__":
    counts = [int(a) for a in sys.argv[1:] if a.isdigit()]
    asyncio.run(
        main(
            counts[0] if counts else 20_000, "--no-events" not in sys.argv, "--commands" in sys.argv
        )
    )
