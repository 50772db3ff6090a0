"""The outbox publisher, retention limits and purging."""

from __future__ import annotations

import uuid

import pytest

from shared.config import Settings
from shared.messaging.outbox import OutboxMessage
from shared.workqueue import Job, NewJob, RetryPolicy, Worker, WorkQueue, create_work_queue
from shared.workqueue.base import admin
from shared.workqueue.publisher import WorkQueuePublisher
from shared.workqueue.redis_backend import RedisWorkQueue
from tests.integration.workqueue.test_delivery import running
from tests.support.wait import eventually


async def test_outbox_rows_become_jobs_with_their_job_id_priority_group_and_envelope(
    queue: WorkQueue,
) -> None:
    transaction_id = str(uuid.uuid4())
    messages = [
        OutboxMessage(
            id=1,
            destination="reward-jobs",
            message_id=str(uuid.uuid4()),
            message_type="CHECKOUT_COMPLETED",
            body={"type": "CHECKOUT_COMPLETED", "data": {"transaction_id": transaction_id}},
            attributes={
                "eventType": "CHECKOUT_COMPLETED",
                "jobId": transaction_id,
                "priority": "3",
                "group": "customer-7",
            },
        ),
        OutboxMessage(
            id=2,
            destination="reward-jobs",
            message_id="0b8b6f1e-8f5e-4c38-9f0b-7d7c1b0a9e11",
            message_type="CHECKOUT_COMPLETED",
            body={"type": "CHECKOUT_COMPLETED", "data": {}},
        ),
    ]
    publisher = WorkQueuePublisher(queue)
    assert await publisher.publish("reward-jobs", messages) == {}
    seen: list[Job] = []

    async def handle(job: Job) -> None:
        seen.append(job)

    async with running(Worker(queue, {"CHECKOUT_COMPLETED": handle}, concurrency=1)):
        await eventually(lambda: _len(seen, 2), what="both jobs to run")
    assert [(j.id, j.priority, j.group) for j in seen] == [
        (transaction_id, 3, "customer-7"),
        ("0b8b6f1e-8f5e-4c38-9f0b-7d7c1b0a9e11", 0, None),
    ]
    assert seen[0].payload == messages[0].body


@pytest.mark.parametrize("backend", ["redis"])
async def test_completed_and_failed_jobs_are_kept_only_up_to_their_limits(
    queue_settings: Settings,
) -> None:
    queue = create_work_queue(
        queue_settings.model_copy(
            update={"work_queue_keep_completed": 5, "work_queue_keep_failed": 3}
        )
    )

    async def handle(job: Job) -> None:
        if job.payload["fail"]:
            raise ValueError("bad input")

    jobs = [NewJob("work", {"fail": i % 2 == 0}, job_id=f"j{i}") for i in range(20)]
    try:
        await queue.enqueue_many(jobs)
        worker = Worker(queue, {"work": handle}, default_retry=RetryPolicy(max_attempts=1))
        async with running(worker):
            await eventually(lambda: _processed(worker, 20), what="every job to run")
        counts = await eventually(lambda: _counts_at(queue, completed=5, failed=3))
        assert counts["waiting"] == 0
        assert isinstance(queue, RedisWorkQueue)
        stored = [key async for key in queue.redis.scan_iter(match=queue.prefix + "job:*")]
        assert len(stored) == 8  # the trimmed jobs are gone, not just unlisted
        assert await queue.purge_completed() == 5
        assert (await queue.status())["completed"] == 0
        assert await queue.inspect("j1") is None
    finally:
        await admin(queue).delete_everything()
        await queue.close()


async def _processed(worker: Worker, expected: int) -> bool:
    return worker.processed >= expected


async def _counts_at(queue: WorkQueue, **expected: int) -> dict[str, int | None] | None:
    counts = await queue.status()
    return counts if all(counts[k] == v for k, v in expected.items()) else None


async def _len(items: list[Job], expected: int) -> bool:
    return len(items) >= expected
