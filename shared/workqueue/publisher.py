"""Outbox publisher into the work queue: a batch of outbox rows is one enqueue round trip."""

from __future__ import annotations

from shared.messaging.outbox import OutboxMessage
from shared.workqueue.base import NewJob, WorkQueue


class WorkQueuePublisher:
    """Turns outbox rows into jobs: type = event type, payload = envelope, id = message id.

    A row that was already enqueued (a relay crashed before marking it sent) has a known
    job id, so enqueuing it again is a no-op rather than a duplicate job.
    """

    max_batch = 500

    def __init__(self, queue: WorkQueue) -> None:
        self.queue = queue

    async def publish(self, destination: str, messages: list[OutboxMessage]) -> dict[int, str]:
        jobs = [
            NewJob(
                job_type=message.message_type,
                payload=message.body,
                job_id=message.attributes.get("jobId") or message.message_id,
                priority=int(message.attributes.get("priority", 0)),
            )
            for message in messages
        ]
        await self.queue.enqueue_many(jobs)
        return {}
