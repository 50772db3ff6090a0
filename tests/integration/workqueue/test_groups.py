"""Per-group concurrency, the same on both backends: one job at a time per customer."""

from __future__ import annotations

import asyncio
from collections import Counter

from shared.config import Settings
from shared.workqueue import Job, NewJob, Worker, WorkQueue, create_work_queue
from tests.integration.workqueue.test_delivery import running_all
from tests.support.wait import eventually


async def test_a_group_limit_of_one_runs_one_job_per_customer_at_a_time_across_workers(
    queue: WorkQueue, queue_settings: Settings
) -> None:
    running_now: Counter[str] = Counter()
    most: Counter[str] = Counter()
    done: list[str] = []

    async def reward(job: Job) -> None:
        key = job.group or "none"
        running_now[key] += 1
        most[key] = max(most[key], running_now[key])
        await asyncio.sleep(0.1)
        running_now[key] -= 1
        done.append(job.id)

    jobs = [NewJob("reward", {}, f"{c}-{n}", group=c) for n in range(4) for c in ("c1", "c2")]
    jobs += [NewJob("reward", {}, f"free-{n}") for n in range(4)]
    await queue.enqueue_many(jobs)
    assert (await queue.status())["waiting"] == 12
    other = create_work_queue(queue_settings)
    workers = [
        Worker(q, {"reward": reward}, concurrency=4, group_limit=1, heartbeat=0.3)
        for q in (queue, other)
    ]
    try:
        async with running_all(workers):
            await eventually(lambda: _count(done, 12), timeout=20, what="every job to run")
    finally:
        await other.close()
    assert sorted(done) == sorted(job.job_id for job in jobs)
    assert most["c1"] == 1 and most["c2"] == 1, most
    assert most["none"] > 1, most  # jobs without a group are not held back


async def _count(items: list[str], expected: int) -> bool:
    return len(items) >= expected
