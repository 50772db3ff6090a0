"""The work queue: one API over two brokers (Redis by default, RabbitMQ as the second).

    async with open_work_queue(settings) as queue:
        await queue.enqueue("CHECKOUT_COMPLETED", payload, job_id=..., priority=tier)
        await Worker(queue, {"CHECKOUT_COMPLETED": handle}, concurrency=32).run()

Guarantees and operations are described in docs/work-queue.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from shared.config import Settings
from shared.workqueue.base import (
    Job,
    NewJob,
    Outcome,
    QueueUnavailable,
    RateLimit,
    RetryPolicy,
    WorkQueue,
)
from shared.workqueue.worker import PermanentError, Worker

__all__ = [
    "Job",
    "NewJob",
    "Outcome",
    "PermanentError",
    "QueueUnavailable",
    "RateLimit",
    "RetryPolicy",
    "WorkQueue",
    "Worker",
    "create_work_queue",
    "open_work_queue",
]


def create_work_queue(settings: Settings, *, name: str | None = None) -> WorkQueue:
    """A queue client for settings.work_queue_backend; call `close()` when done."""
    queue_name = name or settings.work_queue_name
    if settings.work_queue_backend == "amqp":
        from shared.workqueue.amqp_backend import AmqpWorkQueue

        return AmqpWorkQueue(
            settings.amqp_url,
            queue_name,
            keep_failed=settings.work_queue_keep_failed,
        )
    from shared.workqueue.redis_backend import RedisWorkQueue

    return RedisWorkQueue(
        settings.redis_url,
        queue_name,
        visibility_timeout=settings.work_queue_visibility_timeout,
        keep_completed=settings.work_queue_keep_completed,
        keep_failed=settings.work_queue_keep_failed,
        priority_aging=settings.work_queue_priority_aging,
    )


@asynccontextmanager
async def open_work_queue(
    settings: Settings, *, name: str | None = None
) -> AsyncIterator[WorkQueue]:
    """Open a queue client for the configured backend and close it on exit."""
    queue = create_work_queue(settings, name=name)
    try:
        yield queue
    finally:
        await queue.close()
