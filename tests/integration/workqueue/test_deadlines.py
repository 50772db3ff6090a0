"""Deadlines, the same on both backends: a hung attempt is cancelled, retried, then failed."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from shared.workqueue import Job, RetryPolicy, Worker, WorkQueue
from tests.integration.workqueue.test_delivery import running
from tests.support.wait import eventually


def _hung_count(queue: WorkQueue, job_type: str) -> float:
    labels = {"queue": queue.name, "type": job_type, "outcome": "hung"}
    return REGISTRY.get_sample_value("workqueue_jobs_processed_total", labels) or 0.0


async def test_a_job_past_its_deadline_is_cancelled_retried_then_failed(queue: WorkQueue) -> None:
    started: list[int] = []
    cancelled: list[int] = []

    async def stuck(job: Job) -> None:
        started.append(job.attempt)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(job.attempt)
            raise

    async def quick(job: Job) -> None:
        await asyncio.sleep(0.05)

    policy = RetryPolicy(max_attempts=3, base=0.05, cap=0.1)
    worker = Worker(
        queue,
        {"stuck": stuck, "quick": quick},
        default_retry=policy,
        deadlines={"stuck": 0.2},
        default_deadline=5.0,
    )
    await queue.enqueue("stuck", {"n": 1}, job_id="stuck-1")
    await queue.enqueue("quick", {}, job_id="quick-1")
    async with running(worker):
        await eventually(lambda: _failed(queue), timeout=15, what="the hung job to fail")
    assert started == [1, 2, 3] and cancelled == [1, 2, 3]
    job = await queue.inspect("stuck-1")
    assert job is not None and job["state"] == "failed"
    assert job["hung"] == 3
    assert [(h["attempt"], h.get("hung")) for h in job["history"]] == [
        (1, True),
        (2, True),
        (3, True),
    ]
    assert job["error"] == "DeadlineExceeded: the attempt ran past its 0.2 s deadline"
    assert _hung_count(queue, "stuck") == 3
    assert [j["id"] for j in await queue.failed()] == ["stuck-1"]  # the quick one completed


async def _failed(queue: WorkQueue) -> bool:
    counts = await queue.status()
    return counts["failed"] == 1 and counts["waiting"] == 0 and counts["delayed"] == 0
