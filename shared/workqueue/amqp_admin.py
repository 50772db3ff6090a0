"""What operators do to a RabbitMQ work queue: the failed set, pause and resume, promote."""

from __future__ import annotations

from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from shared.workqueue.amqp_failed import FailedJobs
from shared.workqueue.amqp_flow import Flow
from shared.workqueue.amqp_messages import CONNECTION_ERRORS, Layout, copy_of
from shared.workqueue.amqp_registry import JobRegistry
from shared.workqueue.amqp_schedules import ScheduleStore
from shared.workqueue.base import QueueUnavailable
from shared.workqueue.schedules import Schedule


class AmqpAdmin:
    """Operations of `AmqpWorkQueue` that no producer or worker needs."""

    layout: Layout
    flow: Flow
    failed_jobs: FailedJobs
    registry: JobRegistry
    schedule_store: ScheduleStore
    _queues: dict[str, AbstractQueue]

    async def connect(self) -> AbstractChannel:
        raise NotImplementedError

    async def publish(self, messages: list[tuple[aio_pika.Message, str]]) -> None:
        raise NotImplementedError

    async def status(self) -> dict[str, int | None]:
        await self.connect()
        try:
            waiting = await self.count(self.layout.main)
            failed = await self.count(self.layout.failed)
            delayed = sum([await self.count(name) for name in self.layout.delays])
        except CONNECTION_ERRORS as exc:
            raise QueueUnavailable(f"amqp: {exc!r}") from exc
        return dict(waiting=waiting, active=None, delayed=delayed, failed=failed, completed=None)

    async def count(self, queue: str) -> int:
        result = await self._queues[queue].declare()
        return int(result.message_count or 0)

    async def failed(self, start: int = 0, count: int = 50) -> list[dict[str, Any]]:
        return (await self.failed_jobs.list())[start : start + count]

    async def inspect(self, job_id: str) -> dict[str, Any] | None:
        return next((job for job in await self.failed_jobs.list() if job["id"] == job_id), None)

    async def retry_failed(self, job_id: str) -> bool:
        return await self.failed_jobs.requeue(job_id) > 0

    async def retry_all_failed(self) -> int:
        return await self.failed_jobs.requeue(None)

    async def remove(self, job_id: str) -> bool:
        return await self.failed_jobs.remove(job_id)

    async def purge_completed(self) -> int:
        return 0  # acked messages are gone already

    async def verify(self) -> None:
        """Nothing to check: the queues are durable and messages persistent by declaration."""

    async def ping(self) -> None:
        channel = await self.connect()
        if channel.is_closed:
            raise QueueUnavailable("amqp channel is closed")

    async def pause(self) -> None:
        await self.flow.set_paused(await self.connect(), True)

    async def resume(self) -> None:
        await self.flow.set_paused(await self.connect(), False)

    async def is_paused(self) -> bool:
        return await self.flow.probe(await self.connect())

    async def promote(self, job_id: str) -> bool:
        """Move a delayed job from its delay queue to the work queue, due now."""

        async def move(message: AbstractIncomingMessage) -> bool:
            if message.message_id != job_id:
                return False
            await self.publish([(copy_of(message, state="waiting"), self.layout.main)])
            return True

        await self.connect()
        for name in self.layout.delays:
            if await self.count(name) and await self.failed_jobs.scan(move, name, stop_after=1):
                return True
        return False

    async def add_schedule(self, schedule: Schedule) -> None:
        await self.connect()
        await self.schedule_store.add(schedule)

    async def remove_schedule(self, schedule_id: str) -> bool:
        await self.connect()
        return await self.schedule_store.remove(schedule_id)

    async def schedules(self) -> list[dict[str, Any]]:
        return await self.schedule_store.list()

    async def fire_schedules(self) -> tuple[int, float | None]:
        await self.connect()
        return await self.schedule_store.fire()

    async def delete_everything(self) -> None:
        """Delete this queue's RabbitMQ queues and registry (tests and decommissioning)."""
        channel = await self.connect()
        for name in [*self._queues, *self.flow.ticket_queues]:
            await channel.queue_delete(name)
        await channel.exchange_delete(self.flow.control)
        await self.registry.delete(channel)
