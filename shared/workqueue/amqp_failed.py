"""The failed set of the RabbitMQ backend: list, inspect, retry, remove, cap, migrate.

The failed set is the queue `wq.<name>.dead`, declared with no arguments at all: its size
(`WORK_QUEUE_KEEP_FAILED`) is enforced here, after each batch of failures, rather than by
an `x-max-length` argument, because RabbitMQ refuses to redeclare a queue whose arguments
changed (PRECONDITION_FAILED on every later connect). Queues cannot be given policies over
AMQP, and the management API is not always reachable, so the code owns the limit.

Before the limit moved into code the failed set was `wq.<name>.failed` with `x-max-length`;
each connect moves what that queue still holds into the new one and deletes it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from shared.workqueue.amqp_messages import copy_of

if TYPE_CHECKING:
    from shared.workqueue.amqp_backend import AmqpWorkQueue

Act = Callable[[AbstractIncomingMessage], Awaitable[bool]]


class FailedJobs:
    def __init__(self, queue: AmqpWorkQueue) -> None:
        self.queue = queue

    async def scan(self, act: Act, name: str | None = None, stop_after: int = 0) -> int:
        """Read the failed queue (or queue `name`) on a channel of its own; `act(message)`
        returns True to consume the message, False to leave it; closing the channel puts
        back the rest. Stops after `stop_after` consumed messages (0: reads them all)."""
        await self.queue.connect()
        assert self.queue.connection is not None
        channel = await self.queue.connection.channel()
        consumed = 0
        try:
            queue = await channel.get_queue(name or self.queue.layout.failed, ensure=False)
            while (message := await queue.get(no_ack=False, fail=False, timeout=5)) is not None:
                if await act(message):
                    await message.ack()
                    consumed += 1
                    if consumed == stop_after:
                        break
        finally:
            await channel.close()
        return consumed

    async def list(self) -> list[dict[str, Any]]:
        """Every failed job, newest first."""
        found: list[dict[str, Any]] = []

        async def collect(message: AbstractIncomingMessage) -> bool:
            found.append(describe(message))
            return False

        await self.scan(collect)
        found.reverse()
        return found

    async def requeue(self, job_id: str | None) -> int:
        """Move one failed job (or all, for None) back to waiting with fresh attempts."""

        async def move(message: AbstractIncomingMessage) -> bool:
            if job_id is not None and message.message_id != job_id:
                return False
            copy = copy_of(message, attempts=0, state="waiting")
            await self.queue.publish([(copy, self.queue.layout.main)])
            return True  # the id stays registered: the job is still held by the queue

        return await self.scan(move)

    async def remove(self, job_id: str) -> bool:
        async def drop(message: AbstractIncomingMessage) -> bool:
            if message.message_id != job_id:
                return False
            await self.queue.registry.remove([job_id])  # before the message goes away
            return True

        await self.queue.connect()
        return await self.scan(drop) > 0

    async def trim(self) -> int:
        """Drop the oldest failed jobs past the limit; the enqueue mutex keeps two workers
        from trimming the same overflow twice."""
        connection = self.queue.connection
        assert connection is not None
        async with self.queue.registry.locked(connection):
            over = await self.queue.count(self.queue.layout.failed) - self.queue.keep_failed
            if over <= 0:
                return 0
            dropped = 0

            async def oldest(message: AbstractIncomingMessage) -> bool:
                nonlocal dropped
                if dropped >= over:
                    return False
                dropped += 1
                if message.message_id:
                    await self.queue.registry.remove([message.message_id])
                return True

            return await self.scan(oldest)


async def migrate_legacy(
    connection: aio_pika.abc.AbstractConnection, channel: AbstractChannel, legacy: str, new: str
) -> int:
    """Move the messages of the old capped failed queue `legacy` into `new`, delete it."""
    probe = await connection.channel()
    try:
        await probe.declare_queue(legacy, passive=True)
    except aiormq.exceptions.ChannelNotFoundEntity:
        return 0  # nothing to migrate (the broker closed the probe channel)
    moved = 0
    try:
        queue = await probe.get_queue(legacy, ensure=False)
        while (message := await queue.get(no_ack=False, fail=False, timeout=5)) is not None:
            copy = aio_pika.Message(
                message.body,
                message_id=message.message_id,
                type=message.type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                content_type=message.content_type,
                headers=dict(message.headers or {}),
            )
            await channel.default_exchange.publish(copy, routing_key=new)
            await message.ack()
            moved += 1
        await probe.queue_delete(legacy, if_empty=True)
    finally:
        if not probe.is_closed:
            await probe.close()
    return moved


def describe(message: AbstractIncomingMessage) -> dict[str, Any]:
    """A failed message as plain JSON-friendly values (the shape of the Redis backend's)."""
    headers: dict[str, Any] = dict(message.headers or {})
    history = json.loads(str(headers.get("history") or "[]"))
    return {
        "id": message.message_id,
        "type": message.type,
        "state": "failed",
        "payload": _payload(message.body),
        "priority": headers.get("priority", 0),
        "attempts": headers.get("attempts", 0),
        "error": headers.get("error"),
        "traceback": headers.get("traceback"),
        "history": history,
        "hung": sum(1 for entry in history if entry.get("hung")),
        "enqueued_at": int(headers.get("enqueued_at", 0) or 0) / 1000,
    }


def _payload(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode(errors="replace")
