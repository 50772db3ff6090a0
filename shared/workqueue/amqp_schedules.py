"""Schedules of the RabbitMQ backend: one message per schedule in `wq.<name>.schedules`.

A schedule's message carries its definition (body) and its next tick (header `next_at`,
ms). Every change, and every firing, reads the queue under the enqueue lock (the broker-side
mutex of amqp_registry), so one worker at a time decides: a due schedule's job is enqueued
(its id names the tick, see schedules.py), then the schedule is published again with its
next tick and the old message acknowledged. A crash between the two leaves two messages of
one schedule; the next read keeps the first and drops the other, and the tick's job id
keeps the repeated tick from adding a second job while the first is held.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from shared.workqueue.base import NewJob
from shared.workqueue.schedules import Schedule

if TYPE_CHECKING:
    from shared.workqueue.amqp_backend import AmqpWorkQueue


class ScheduleStore:
    def __init__(self, queue: AmqpWorkQueue) -> None:
        self.queue = queue
        self.name = queue.layout.schedules

    async def add(self, schedule: Schedule) -> None:
        """Add a schedule, or replace the one with its id."""

        async def drop_same(message: AbstractIncomingMessage) -> bool:
            return message.message_id == schedule.id

        async with self._locked():
            await self.queue.failed_jobs.scan(drop_same, self.name)
            first = schedule.next_after_ms(_now_ms())
            await self.queue.publish([(_message(schedule, first), self.name)])

    async def remove(self, schedule_id: str) -> bool:
        async def drop(message: AbstractIncomingMessage) -> bool:
            return message.message_id == schedule_id

        async with self._locked():
            return await self.queue.failed_jobs.scan(drop, self.name) > 0

    async def list(self) -> list[dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}

        async def collect(message: AbstractIncomingMessage) -> bool:
            schedule, next_at = _read(message)
            found.setdefault(schedule.id, {**schedule.to_dict(), "next_at": next_at / 1000})
            return False

        await self.queue.failed_jobs.scan(collect, self.name)
        return [found[sid] for sid in sorted(found)]

    async def fire(self) -> tuple[int, float | None]:
        """Enqueue the job of every due tick; (jobs enqueued, seconds to the next tick)."""
        ticks = [int(s["next_at"] * 1000) for s in await self.list()]  # no lock to look
        if not ticks or min(ticks) > _now_ms():
            return 0, None if not ticks else max(0.0, (min(ticks) - _now_ms()) / 1000)
        now = _now_ms()
        fired = 0
        seen: set[str] = set()
        republished: dict[str, int] = {}
        first: int | None = None

        async def fire_due(message: AbstractIncomingMessage) -> bool:
            nonlocal fired, first
            schedule, tick = _read(message)
            if republished.get(schedule.id) == tick:
                return False  # the copy this scan published
            if schedule.id in seen:
                return True  # a duplicate left by a crash between publish and ack
            seen.add(schedule.id)
            if tick > now:
                first = tick if first is None else min(first, tick)
                return False
            job = NewJob(
                schedule.job_type, schedule.payload, schedule.job_id(tick), schedule.priority
            )
            fired += sum(await self.queue.enqueue_locked([job]))
            following = schedule.next_after_ms(now)
            republished[schedule.id] = following
            first = following if first is None else min(first, following)
            await self.queue.publish([(_message(schedule, following), self.name)])
            return True

        async with self._locked():
            await self.queue.failed_jobs.scan(fire_due, self.name)
        return fired, None if first is None else max(0.0, (first - _now_ms()) / 1000)

    def _locked(self) -> Any:
        assert self.queue.connection is not None
        return self.queue.registry.locked(self.queue.connection)


def _message(schedule: Schedule, next_at: int) -> aio_pika.Message:
    return aio_pika.Message(
        json.dumps(schedule.to_dict(), separators=(",", ":")).encode(),
        message_id=schedule.id,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        content_type="application/json",
        headers={"next_at": next_at},
    )


def _read(message: AbstractIncomingMessage) -> tuple[Schedule, int]:
    next_at = int(str((message.headers or {}).get("next_at", 0) or 0))
    return Schedule.from_dict(json.loads(message.body)), next_at


def _now_ms() -> int:
    return int(time.time() * 1000)
