"""RabbitMQ backend (aio-pika): durable priority queue, publisher confirms, manual acks.

Queues, all durable:
    wq.<name>            the work: x-max-priority 10, consumed with manual acks and a
                         prefetch of the worker's concurrency
    wq.<name>.delay.<k>  delayed jobs and retries: a message waits out its per-message TTL,
                         then the dead-letter exchange routes it back to wq.<name>. Bucket k
                         holds delays in [2^(k-1), 2^k) ms, so a short delay never waits
                         behind a much longer one.
    wq.<name>.failed     the dead-letter set, capped at keep_failed (oldest dropped)

A job held by a worker whose connection dies is redelivered by the broker (no visibility
timeout needed). After an outage the next call reconnects and re-subscribes. RabbitMQ
keeps no record of finished jobs, so `completed` and `active` are not counted here and
job ids do not de-duplicate enqueues (the handler must be idempotent; ours is).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
    AbstractQueue,
)

from shared.workqueue.base import BatchEnqueue, Job, NewJob, Outcome, QueueUnavailable

DELAY_BUCKETS = 28  # up to 2^27 ms, about 37 hours
AMQP_MAX_PRIORITY = 9
PUBLISH_WINDOW = 1000
CONNECTION_ERRORS = (
    aiormq.exceptions.AMQPError,
    aio_pika.exceptions.AMQPException,
    ConnectionError,
    RuntimeError,  # aio-pika's "connection closed" on a channel of a dead connection
    OSError,
    asyncio.TimeoutError,
)


def delay_bucket(delay_ms: int) -> int:
    return min(DELAY_BUCKETS - 1, max(0, math.ceil(math.log2(max(delay_ms, 1) + 1))))


class AmqpWorkQueue(BatchEnqueue):
    backend = "amqp"

    def __init__(self, url: str, name: str, *, keep_failed: int = 10_000) -> None:
        self.url = url
        self.name = name
        self.main = f"wq.{name}"
        self.failed_queue = f"wq.{name}.failed"
        self.keep_failed = keep_failed
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._consume_channel: AbstractChannel | None = None
        self._queues: dict[str, AbstractQueue] = {}
        self._buffer: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._consumer_tag: str | None = None
        self._consume_queue: AbstractQueue | None = None
        self._lock = asyncio.Lock()

    async def _ensure(self) -> AbstractChannel:
        """The publishing channel; (re)connects after a broker outage or restart."""
        async with self._lock:
            if self._channel is not None and not self._channel.is_closed:
                return self._channel
            try:
                if self._connection is None or self._connection.is_closed:
                    self._forget_consumer()
                    self._connection = await aio_pika.connect(self.url, timeout=5)
                self._channel = await self._connection.channel(publisher_confirms=True)
                await self._declare(self._channel)
            except CONNECTION_ERRORS as exc:
                await self._drop_connection()
                raise QueueUnavailable(f"amqp: {exc!r}") from exc
            return self._channel

    def _forget_consumer(self) -> None:
        # Messages of a dead channel cannot be acked; the broker redelivers them.
        self._consumer_tag = None
        self._consume_queue = None
        while not self._buffer.empty():
            self._buffer.get_nowait()

    async def _drop_connection(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        self._forget_consumer()
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    async def _declare(self, channel: AbstractChannel) -> None:
        self._queues[self.main] = await channel.declare_queue(
            self.main, durable=True, arguments={"x-max-priority": AMQP_MAX_PRIORITY + 1}
        )
        self._queues[self.failed_queue] = await channel.declare_queue(
            self.failed_queue, durable=True, arguments={"x-max-length": self.keep_failed}
        )
        for bucket in range(DELAY_BUCKETS):
            name = f"{self.main}.delay.{bucket}"
            self._queues[name] = await channel.declare_queue(
                name,
                durable=True,
                arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.main},
            )

    async def _publish(self, messages: list[tuple[aio_pika.Message, str]]) -> None:
        channel = await self._ensure()
        exchange = channel.default_exchange
        try:
            # Confirms are awaited a window at a time: the broker acks them in batches.
            for start in range(0, len(messages), PUBLISH_WINDOW):
                window = messages[start : start + PUBLISH_WINDOW]
                await asyncio.gather(*(exchange.publish(m, routing_key=rk) for m, rk in window))
        except CONNECTION_ERRORS as exc:
            await self._drop_connection()
            raise QueueUnavailable(f"amqp: {exc!r}") from exc

    def _message(
        self, job_id: str, job_type: str, body: bytes, priority: int, headers: dict[str, Any]
    ) -> aio_pika.Message:
        return aio_pika.Message(
            body,
            message_id=job_id,
            type=job_type,
            priority=min(priority, AMQP_MAX_PRIORITY),
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            content_type="application/json",
            headers={"priority": priority, **headers},
        )

    def _route(self, delay: float) -> tuple[str, str | None]:
        delay_ms = int(delay * 1000)
        if delay_ms <= 0:
            return self.main, None
        return f"{self.main}.delay.{delay_bucket(delay_ms)}", str(delay_ms)

    async def enqueue_many(self, jobs: list[NewJob]) -> list[bool]:
        now_ms = int(time.time() * 1000)
        messages = []
        for job in jobs:
            routing_key, expiration = self._route(job.delay)
            message = self._message(
                job.job_id,
                job.job_type,
                json.dumps(job.payload, separators=(",", ":")).encode(),
                job.priority,
                {"enqueued_at": now_ms, "attempts": 0, "history": "[]"},
            )
            if expiration:
                message.expiration = int(expiration) / 1000
            messages.append((message, routing_key))
        await self._publish(messages)
        return [True] * len(jobs)

    async def claim(self, count: int, timeout: float) -> list[Job]:
        await self._subscribe(count)
        messages: list[AbstractIncomingMessage] = []
        try:
            messages.append(await asyncio.wait_for(self._buffer.get(), timeout))
        except TimeoutError:
            return []
        while len(messages) < count and not self._buffer.empty():
            messages.append(self._buffer.get_nowait())
        return [_job(m) for m in messages]

    async def _subscribe(self, prefetch: int) -> None:
        alive = self._consume_channel is not None and not self._consume_channel.is_closed
        if self._consumer_tag is not None and alive:
            return
        await self._ensure()
        assert self._connection is not None
        self._forget_consumer()
        try:
            self._consume_channel = await self._connection.channel()
            await self._consume_channel.set_qos(prefetch_count=prefetch)
            queue = await self._consume_channel.get_queue(self.main, ensure=False)
            self._consumer_tag = await queue.consume(self._buffer.put)
            self._consume_queue = queue
        except CONNECTION_ERRORS as exc:
            await self._drop_connection()
            raise QueueUnavailable(f"amqp: {exc!r}") from exc

    async def stop_claiming(self) -> None:
        if self._consumer_tag is not None and self._consume_queue is not None:
            with contextlib.suppress(*CONNECTION_ERRORS):
                await self._consume_queue.cancel(self._consumer_tag)
            self._consumer_tag = None
        while not self._buffer.empty():
            message = self._buffer.get_nowait()
            with contextlib.suppress(*CONNECTION_ERRORS):
                await message.nack(requeue=True)

    async def settle(self, outcomes: list[Outcome]) -> None:
        moves = []
        for o in outcomes:
            if o.kind == "completed":
                continue
            job = o.job
            history = [
                *job.history,
                {"attempt": job.attempt, "error": o.error, "at": int(time.time() * 1000)},
            ]
            headers = {
                "enqueued_at": int(job.enqueued_at * 1000),
                "attempts": job.attempt,
                "history": json.dumps(history),
                "error": o.error[:4000],
                "traceback": o.traceback[-4000:],
            }
            message = self._message(
                job.id, job.type, job.receipt.body, job.priority, headers | {"state": o.kind}
            )
            if o.kind == "retry":
                routing_key, expiration = self._route(o.delay)
                if expiration:
                    message.expiration = int(expiration) / 1000
            else:
                routing_key = self.failed_queue
            moves.append((message, routing_key))
        if moves:
            await self._publish(moves)
        for o in outcomes:
            # A message of a channel that has since closed is redelivered by the broker.
            with contextlib.suppress(*CONNECTION_ERRORS):
                await o.job.receipt.ack()

    async def extend(self, jobs: list[Job]) -> None:
        """Nothing to do: RabbitMQ holds unacked messages as long as the channel lives."""

    async def release(self, jobs: list[Job]) -> None:
        for job in jobs:
            with contextlib.suppress(*CONNECTION_ERRORS):
                await job.receipt.nack(requeue=True)

    async def status(self) -> dict[str, int | None]:
        await self._ensure()
        try:
            waiting = await self._count(self.main)
            failed = await self._count(self.failed_queue)
            delayed = 0
            for bucket in range(DELAY_BUCKETS):
                delayed += await self._count(f"{self.main}.delay.{bucket}")
        except CONNECTION_ERRORS as exc:
            raise QueueUnavailable(f"amqp: {exc!r}") from exc
        return {
            "waiting": waiting,
            "active": None,
            "delayed": delayed,
            "failed": failed,
            "completed": None,
        }

    async def _count(self, queue: str) -> int:
        result = await self._queues[queue].declare()
        return int(result.message_count or 0)

    async def _scan_failed(self, act: Any) -> int:
        """Read the failed queue on a channel of its own; `act(message)` returns True to
        consume the message, False to leave it; closing the channel puts back the rest."""
        await self._ensure()
        assert self._connection is not None
        channel = await self._connection.channel()
        consumed = 0
        try:
            queue = await channel.get_queue(self.failed_queue, ensure=False)
            while (message := await queue.get(no_ack=False, fail=False, timeout=5)) is not None:
                if await act(message):
                    await message.ack()
                    consumed += 1
        finally:
            await channel.close()
        return consumed

    async def failed(self, start: int = 0, count: int = 50) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []

        async def collect(message: AbstractIncomingMessage) -> bool:
            found.append(_describe(message))
            return False

        await self._scan_failed(collect)
        found.reverse()
        return found[start : start + count]

    async def inspect(self, job_id: str) -> dict[str, Any] | None:
        jobs = await self.failed(0, self.keep_failed)
        return next((job for job in jobs if job["id"] == job_id), None)

    async def _requeue_failed(self, job_id: str | None) -> int:
        async def move(message: AbstractIncomingMessage) -> bool:
            if job_id is not None and message.message_id != job_id:
                return False
            headers = _headers(message)
            headers.update({"attempts": 0, "state": "waiting"})
            priority = int(headers.get("priority", 0) or 0)
            copy = self._message(
                message.message_id or "", message.type or "", message.body, priority, headers
            )
            await self._publish([(copy, self.main)])
            return True

        return await self._scan_failed(move)

    async def retry_failed(self, job_id: str) -> bool:
        return await self._requeue_failed(job_id) > 0

    async def retry_all_failed(self) -> int:
        return await self._requeue_failed(None)

    async def remove(self, job_id: str) -> bool:
        async def drop(message: AbstractIncomingMessage) -> bool:
            return message.message_id == job_id

        return await self._scan_failed(drop) > 0

    async def purge_completed(self) -> int:
        return 0  # acked messages are gone already

    async def delete_everything(self) -> None:
        """Delete this queue's RabbitMQ queues (tests and decommissioning)."""
        channel = await self._ensure()
        for name in list(self._queues):
            await channel.queue_delete(name)

    async def ping(self) -> None:
        channel = await self._ensure()
        if channel.is_closed:
            raise QueueUnavailable("amqp channel is closed")

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None


def _headers(message: AbstractIncomingMessage) -> dict[str, Any]:
    return dict(message.headers or {})


def _job(message: AbstractIncomingMessage) -> Job:
    headers = _headers(message)
    attempts = int(headers.get("attempts", 0) or 0)
    if message.redelivered:
        attempts += 1  # a worker died holding it: that claim counts as an attempt
    return Job(
        id=message.message_id or "",
        type=message.type or "",
        payload=json.loads(message.body),
        priority=int(headers.get("priority", 0) or 0),
        attempt=attempts + 1,
        enqueued_at=int(headers.get("enqueued_at", 0) or 0) / 1000,
        history=json.loads(str(headers.get("history") or "[]")),
        receipt=message,
    )


def _describe(message: AbstractIncomingMessage) -> dict[str, Any]:
    headers = _headers(message)
    return {
        "id": message.message_id,
        "type": message.type,
        "state": "failed",
        "payload": json.loads(message.body),
        "priority": headers.get("priority", 0),
        "attempts": headers.get("attempts", 0),
        "error": headers.get("error"),
        "traceback": headers.get("traceback"),
        "history": json.loads(str(headers.get("history") or "[]")),
        "enqueued_at": int(headers.get("enqueued_at", 0) or 0) / 1000,
    }
