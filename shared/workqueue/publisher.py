"""Outbox publisher into the work queue: a batch of outbox rows is one enqueue round trip."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from shared.config import Settings
from shared.logging import get_logger
from shared.messaging.outbox import OutboxMessage
from shared.workqueue import open_work_queue
from shared.workqueue.base import NewJob, WorkQueue

log = get_logger(__name__)


class WorkQueuePublisher:
    """Turns outbox rows into jobs: type = event type, payload = envelope, id = message id.

    A row that was already enqueued (a relay crashed before marking it sent) has a known
    job id, so enqueuing it again is a no-op rather than a duplicate job, while that job waits
    or runs. If the known job failed for good, publishing it again (as the checkout
    reconciler does for a checkout whose rewards are still pending) runs it again: the
    database, not the queue, decides whether the work is still owed.
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
                group=message.attributes.get("group") or None,  # e.g. the customer id
            )
            for message in messages
        ]
        accepted = await self.queue.enqueue_many(jobs)
        for job, fresh in zip(jobs, accepted, strict=True):
            if not fresh and await self.queue.retry_failed(job.job_id):
                log.warning("failed job published again: runs again", job_id=job.job_id)
        return {}


@asynccontextmanager
async def work_queue_publishers(
    settings: Settings, destinations: Sequence[str]
) -> AsyncIterator[dict[str, WorkQueuePublisher]]:
    """A WorkQueuePublisher for `destinations` (outbox relays) over the configured backend."""
    async with open_work_queue(settings) as queue:
        yield dict.fromkeys(destinations, WorkQueuePublisher(queue))
