"""Priority aging (Redis backend; RabbitMQ serves priorities strictly, see docs/work-queue.md):
a low-priority job overtakes a never-ending stream of high-priority ones."""

from __future__ import annotations

import pytest

from shared.config import Settings
from shared.workqueue import Job, NewJob, Worker, WorkQueue, create_work_queue
from shared.workqueue.base import admin
from tests.integration.workqueue.test_delivery import running
from tests.support.wait import eventually


@pytest.mark.parametrize("backend", ["redis"])
async def test_a_low_priority_job_runs_while_higher_ones_keep_coming(
    queue_settings: Settings,
) -> None:
    aged = queue_settings.model_copy(update={"work_queue_priority_aging": 0.05})
    queue: WorkQueue = create_work_queue(aged)
    high_runs = 0
    low_ran_with: list[int] = []  # high-priority jobs waiting when the low one ran

    async def high(job: Job) -> None:
        nonlocal high_runs
        high_runs += 1
        if high_runs < 2000:  # every high job adds two: the queue never runs dry of them
            await queue.enqueue_many([NewJob("high", {}, priority=5) for _ in range(2)])

    async def low(job: Job) -> None:
        low_ran_with.append((await queue.status())["waiting"] or 0)

    try:
        await queue.enqueue_many([NewJob("high", {}, priority=5) for _ in range(20)])
        await queue.enqueue("low", {}, job_id="low", priority=0)
        async with running(Worker(queue, {"high": high, "low": low}, concurrency=1)):
            await eventually(lambda: _ran(low_ran_with), timeout=20, what="the low job to run")
        assert low_ran_with[0] > 20, low_ran_with  # it overtook waiting high-priority jobs
        assert high_runs < 2000
    finally:
        await admin(queue).delete_everything()
        await queue.close()


async def _ran(items: list[int]) -> bool:
    return bool(items)
