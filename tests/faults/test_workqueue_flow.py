"""The work queue's flow control at full size (slow, so in `make test-faults`, not
`make test`): 1,000 jobs under a limit of 100 per second across three workers take at least
9 s, and a cron schedule of every second runs once per tick with three workers for 10 s."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest

from shared.config import Settings
from shared.workqueue import Job, NewJob, RateLimit, Worker, WorkQueue, create_work_queue
from shared.workqueue.base import admin
from shared.workqueue.schedules import Schedule
from tests.faults.report import record
from tests.integration.workqueue.test_delivery import running
from tests.support.wait import eventually


@pytest.fixture(params=["redis", "amqp"])
async def clients(
    settings: Settings, request: pytest.FixtureRequest
) -> AsyncIterator[list[WorkQueue]]:
    """Three clients of one fresh queue (one per worker)."""
    mine = settings.model_copy(
        update={
            "work_queue_backend": request.param,
            "work_queue_name": f"flow-{uuid.uuid4().hex[:12]}",
            "work_queue_visibility_timeout": 5.0,
        }
    )
    queues = [create_work_queue(mine) for _ in range(3)]
    yield queues
    await admin(queues[0]).delete_everything()
    for queue in queues:
        await queue.close()


@pytest.mark.timeout(120)
async def test_a_thousand_jobs_under_a_hundred_per_second_take_nine_seconds(
    clients: list[WorkQueue],
) -> None:
    started: list[float] = []

    async def handle(job: Job) -> None:
        started.append(time.monotonic())

    limit = RateLimit(100, per=1.0)
    await clients[0].enqueue_many([NewJob("api", {"i": i}) for i in range(1000)])
    begin = time.monotonic()
    async with AsyncExitStack() as stack:
        for queue in clients:
            await stack.enter_async_context(
                running(Worker(queue, {"api": handle}, rate_limit=limit))
            )
        await eventually(lambda: _count(started, 1000), timeout=60, what="every job to run")
    elapsed = max(started) - begin
    assert elapsed >= 9.0, elapsed
    assert elapsed < 20.0, elapsed  # limited, not stalled
    first = min(started)
    per_second = [sum(1 for t in started if s <= t - first < s + 0.98) for s in range(10)]
    assert max(per_second) <= 100, per_second
    record(
        f"workqueue-rate-limit-{clients[0].backend}",
        done="1,000 jobs run by three workers under a shared limit of 100 per second",
        checked="at least 9 s from the first claim to the last start, no second over 100",
        requests=0,
        faults=0,
        messages=len(started),
        lost=0,
        doubled=0,
        seconds=round(elapsed, 2),
        busiest_second=max(per_second),
    )


@pytest.mark.timeout(120)
async def test_a_cron_schedule_of_every_second_runs_once_per_tick_for_ten_seconds(
    clients: list[WorkQueue],
) -> None:
    ran: list[int] = []

    async def handle(job: Job) -> None:
        ran.append(int(job.id.rsplit(":", 1)[1]))

    await clients[0].add_schedule(Schedule("tick", "tick", cron="* * * * * *"))
    async with AsyncExitStack() as stack:
        for queue in clients:
            await stack.enter_async_context(running(Worker(queue, {"tick": handle})))
        await eventually(lambda: _count(ran, 10), timeout=25, what="ten ticks to run")
    assert len(ran) == len(set(ran)), ran
    assert all(b - a == 1000 for a, b in itertools.pairwise(sorted(ran))), ran
    record(
        f"workqueue-cron-ticks-{clients[0].backend}",
        done="a cron schedule of every second fired by three workers for ten ticks",
        checked="each tick ran once, no tick skipped",
        requests=0,
        faults=0,
        messages=len(ran),
        lost=0,
        doubled=len(ran) - len(set(ran)),
    )


async def _count(items: list[object], expected: int) -> bool:
    return len(items) >= expected
