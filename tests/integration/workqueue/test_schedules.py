"""Schedules, the same on both backends: once per tick across workers, listed, removed."""

from __future__ import annotations

import itertools
import time

import pytest

from shared.config import Settings
from shared.workqueue import Job, Worker, WorkQueue, create_work_queue
from shared.workqueue.schedules import Schedule
from tests.integration.workqueue.test_delivery import running_all
from tests.support.wait import eventually


async def run_ticks(queue: WorkQueue, settings: Settings, workers: int, ticks: int) -> list[int]:
    """Run `workers` workers until `ticks` jobs of the schedule ran; the ticks they ran."""
    ran: list[int] = []

    async def handle(job: Job) -> None:
        assert job.payload == {"report": "daily"}
        ran.append(int(job.id.rsplit(":", 1)[1]))

    clients = [create_work_queue(settings) for _ in range(workers - 1)]
    pool = [Worker(q, {"report": handle}, heartbeat=0.3) for q in [queue, *clients]]
    try:
        async with running_all(pool):
            await eventually(
                lambda: _count(ran, ticks), timeout=ticks + 10, what=f"{ticks} ticks to run"
            )
    finally:
        for client in clients:
            await client.close()
    return ran


async def test_an_interval_schedule_runs_once_per_tick_with_three_workers(
    queue: WorkQueue, queue_settings: Settings
) -> None:
    """Every 0.25 s for five ticks (cron ticks of every second for ten s: tests/faults)."""
    await queue.add_schedule(Schedule("often", "report", {"report": "daily"}, every=0.25))
    ran = await run_ticks(queue, queue_settings, workers=3, ticks=5)
    assert len(ran) == len(set(ran)), ran  # no tick ran twice
    assert all(tick % 250 == 0 for tick in ran), ran
    assert all(b - a == 250 for a, b in itertools.pairwise(sorted(ran))), ran
    assert abs(max(ran) / 1000 - time.time()) < 3


async def test_schedules_are_listed_replaced_and_removed(queue: WorkQueue) -> None:
    await queue.add_schedule(Schedule("cleanup", "purge", cron="0 3 * * *"))
    await queue.add_schedule(Schedule("poll", "fetch", {"feed": "a"}, every=30))
    await queue.add_schedule(Schedule("poll", "fetch", {"feed": "b"}, every=60, priority=4))
    listed = await queue.schedules()
    assert [(s["id"], s["job_type"], s["cron"], s["every"]) for s in listed] == [
        ("cleanup", "purge", "0 3 * * *", None),
        ("poll", "fetch", None, 60.0),
    ]
    poll = listed[1]
    assert poll["payload"] == {"feed": "b"} and poll["priority"] == 4
    assert poll["next_at"] % 60 == 0 and 0 < poll["next_at"] - time.time() <= 60
    assert await queue.remove_schedule("poll") is True
    assert await queue.remove_schedule("poll") is False
    assert [s["id"] for s in await queue.schedules()] == ["cleanup"]
    assert await queue.fire_schedules() == (
        0,
        pytest.approx(listed[0]["next_at"] - time.time(), abs=5),
    )


async def _count(items: list[int], expected: int) -> bool:
    return len(items) >= expected
