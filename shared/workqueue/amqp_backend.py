"""RabbitMQ backend (aio-pika): durable priority queue, publisher confirms, manual acks.

Queues and exchanges, all durable:
    wq.<name>            the work: x-max-priority 10, consumed with manual acks and a
                         prefetch of the worker's concurrency
    wq.<name>.delay.<k>  delayed jobs and retries: a message waits out its per-message TTL,
                         then the dead-letter exchange routes it back to wq.<name>. Bucket k
                         holds delays in [2^(k-1), 2^k) ms, so a short delay never waits
                         behind a much longer one.
    wq.<name>.dead       the failed set, capped in code (see amqp_failed)
    wq.<name>.ids        the job id registry that de-duplicates enqueues (see amqp_registry)

Attempts: a message redelivered by the broker (its consumer died or lost the connection
while holding it) is not run as it is: it is published again with its attempt count raised
and the original acknowledged, so every lost claim counts and a job that kills its worker
ends in the failed set after its max attempts instead of looping. (`redelivered` alone is a
boolean; quorum queues count deliveries, but before RabbitMQ 3.13 they have no priorities.)

A job held by a worker whose connection dies is redelivered by the broker (no visibility
timeout needed). After an outage the next call reconnects and re-subscribes with the
largest batch the worker ever asked for as its prefetch. RabbitMQ keeps no record of
finished jobs, so `completed` and `active` are not counted here.
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

from shared.logging import get_logger
from shared.workqueue.amqp_failed import FailedJobs, migrate_legacy
from shared.workqueue.amqp_registry import JobRegistry
from shared.workqueue.base import BatchEnqueue, Job, NewJob, Outcome, QueueUnavailable

log = get_logger(__name__)

DELAY_BUCKETS = 28  # up to 2^27 ms, about 37 hours
AMQP_MAX_PRIORITY = 9
PUBLISH_WINDOW = 1000
MAX_ID_BYTES = 255  # a routing key of the id registry
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
        self.failed_queue = f"wq.{name}.dead"
        self.legacy_failed_queue = f"wq.{name}.failed"
        self.keep_failed = keep_failed
        self.registry = JobRegistry(self.main)
        self.failed_jobs = FailedJobs(self)
        self.connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._consume_channel: AbstractChannel | None = None
        self._queues: dict[str, AbstractQueue] = {}
        self._buffer: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._consumer_tag: str | None = None
        self._consume_queue: AbstractQueue | None = None
        self._prefetch = 1  # the largest batch a claim asked for (the worker's concurrency)
        self._lock = asyncio.Lock()

    async def connect(self) -> AbstractChannel:
        """The publishing channel; (re)connects after a broker outage or restart."""
        async with self._lock:
            if self._channel is not None and not self._channel.is_closed:
                return self._channel
            try:
                if self.connection is None or self.connection.is_closed:
                    self._forget_consumer()
                    self.connection = await aio_pika.connect(self.url, timeout=5)
                self._channel = await self.connection.channel(publisher_confirms=True)
                await self._declare(self.connection, self._channel)
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
        connection, self.connection, self._channel = self.connection, None, None
        self._forget_consumer()
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    async def _declare(self, connection: AbstractConnection, channel: AbstractChannel) -> None:
        self._queues[self.main] = await channel.declare_queue(
            self.main, durable=True, arguments={"x-max-priority": AMQP_MAX_PRIORITY + 1}
        )
        self._queues[self.failed_queue] = await channel.declare_queue(
            self.failed_queue, durable=True
        )
        for bucket in range(DELAY_BUCKETS):
            name = f"{self.main}.delay.{bucket}"
            self._queues[name] = await channel.declare_queue(
                name,
                durable=True,
                arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.main},
            )
        await self.registry.declare(connection, channel)
        moved = await migrate_legacy(
            connection, channel, self.legacy_failed_queue, self.failed_queue
        )
        if moved:
            log.warning("failed jobs moved to the new failed queue", jobs=moved)

    async def publish(self, messages: list[tuple[aio_pika.Message, str]]) -> None:
        """Publish with confirms; a message the broker could not route is an error."""
        channel = await self.connect()
        exchange = channel.default_exchange
        try:
            # Confirms are awaited a window at a time: the broker acks them in batches.
            for start in range(0, len(messages), PUBLISH_WINDOW):
                window = messages[start : start + PUBLISH_WINDOW]
                results = await asyncio.gather(
                    *(exchange.publish(m, routing_key=rk) for m, rk in window)
                )
                if any(isinstance(r, aiormq.abc.DeliveredMessage) for r in results):
                    raise QueueUnavailable("amqp: a job was returned unroutable")
        except CONNECTION_ERRORS as exc:
            await self._drop_connection()
            raise QueueUnavailable(f"amqp: {exc!r}") from exc

    def message(
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

    def _route(self, delay: float) -> tuple[str, float | None]:
        delay_ms = int(delay * 1000)
        if delay_ms <= 0:
            return self.main, None
        return f"{self.main}.delay.{delay_bucket(delay_ms)}", delay_ms / 1000

    async def enqueue_many(self, jobs: list[NewJob]) -> list[bool]:
        """Publish the jobs whose ids the queue does not hold yet; False for the others."""
        if not jobs:
            return []
        if any(len(job.job_id.encode()) > MAX_ID_BYTES for job in jobs):
            raise ValueError(f"a job id must be at most {MAX_ID_BYTES} bytes")
        await self.connect()
        assert self.connection is not None
        try:
            async with self.registry.locked(self.connection):
                known = await self.registry.known(list({job.job_id for job in jobs}))
                flags = []
                fresh: list[NewJob] = []
                for job in jobs:
                    new = job.job_id not in known
                    known.add(job.job_id)  # a repeat within the batch is a duplicate too
                    flags.append(new)
                    if new:
                        fresh.append(job)
                await self.publish([self._new_message(job) for job in fresh])
                await self.registry.add([job.job_id for job in fresh])  # after the publish
        except CONNECTION_ERRORS as exc:
            await self._drop_connection()
            raise QueueUnavailable(f"amqp: {exc!r}") from exc
        return flags

    def _new_message(self, job: NewJob) -> tuple[aio_pika.Message, str]:
        routing_key, expiration = self._route(job.delay)
        message = self.message(
            job.job_id,
            job.job_type,
            json.dumps(job.payload, separators=(",", ":")).encode(),
            job.priority,
            {"enqueued_at": int(time.time() * 1000), "attempts": 0, "history": "[]"},
        )
        message.expiration = expiration
        return message, routing_key

    async def claim(self, count: int, timeout: float) -> list[Job]:
        self._prefetch = max(self._prefetch, count)
        await self._subscribe()
        messages: list[AbstractIncomingMessage] = []
        try:
            messages.append(await asyncio.wait_for(self._buffer.get(), timeout))
        except TimeoutError:
            return []
        while len(messages) < count and not self._buffer.empty():
            messages.append(self._buffer.get_nowait())
        jobs = []
        for message in messages:
            job = await self._accept(message)
            if job is not None:
                jobs.append(job)
        return jobs

    async def _accept(self, message: AbstractIncomingMessage) -> Job | None:
        """The job of a delivery, or None when the delivery was handled here."""
        try:
            job = _job(message)
        except (ValueError, TypeError) as exc:
            await self._bury(message, f"MalformedJob: {exc}")
            return None
        if message.redelivered:
            # The delivery before this one ended without an ack: that claim was an attempt.
            await self._put_back(message, attempts=job.attempt)
            return None
        return job

    async def _put_back(self, message: AbstractIncomingMessage, *, attempts: int) -> None:
        headers = _headers(message) | {"attempts": attempts}
        priority = int(headers.get("priority", 0) or 0)
        copy = self.message(
            message.message_id or "", message.type or "", message.body, priority, headers
        )
        await self.publish([(copy, self.main)])
        with contextlib.suppress(*CONNECTION_ERRORS):
            await message.ack()

    async def _bury(self, message: AbstractIncomingMessage, error: str) -> None:
        log.warning("malformed job moved to the failed set", job_id=message.message_id)
        headers = _headers(message) | {"error": error, "state": "failed"}
        copy = aio_pika.Message(
            message.body,
            message_id=message.message_id,
            type=message.type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            headers=headers,
        )
        await self.publish([(copy, self.failed_queue)])
        with contextlib.suppress(*CONNECTION_ERRORS):
            await message.ack()

    async def _subscribe(self) -> None:
        alive = self._consume_channel is not None and not self._consume_channel.is_closed
        if self._consumer_tag is not None and alive:
            return
        await self.connect()
        assert self.connection is not None
        self._forget_consumer()
        try:
            self._consume_channel = await self.connection.channel()
            # The prefetch is the worker's concurrency, not the slots free right now: after
            # a reconnect under load those are few, and a small prefetch would stay.
            await self._consume_channel.set_qos(prefetch_count=self._prefetch)
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
            attempts = int(_headers(message).get("attempts", 0) or 0)
            with contextlib.suppress(QueueUnavailable):
                await self._put_back(message, attempts=attempts + int(bool(message.redelivered)))

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
            message = self.message(
                job.id, job.type, job.receipt.body, job.priority, headers | {"state": o.kind}
            )
            if o.kind == "retry":
                routing_key, message.expiration = self._route(o.delay)
            else:
                routing_key = self.failed_queue
            moves.append((message, routing_key))
        if moves:
            await self.publish(moves)
        for o in outcomes:
            # A message of a channel that has since closed is redelivered by the broker.
            with contextlib.suppress(*CONNECTION_ERRORS):
                await o.job.receipt.ack()
        done = [o.job.id for o in outcomes if o.kind == "completed"]
        if done:
            # Forgotten after the ack, which frees the prefetch slot at once: a crash in
            # between leaves a completed id known, as the Redis backend keeps completed ids.
            try:
                await self.registry.remove(done)
            except CONNECTION_ERRORS as exc:
                log.warning("could not forget completed job ids", error=repr(exc))
        if any(o.kind == "failed" for o in outcomes):
            try:
                await self.failed_jobs.trim()
            except (*CONNECTION_ERRORS, QueueUnavailable) as exc:
                log.warning("could not trim the failed set", error=repr(exc))

    async def extend(self, jobs: list[Job]) -> None:
        """Nothing to do: RabbitMQ holds unacked messages as long as the channel lives."""

    async def release(self, jobs: list[Job]) -> None:
        """Give unstarted jobs back: republished as they came (no attempt), then acked."""
        for job in jobs:
            with contextlib.suppress(QueueUnavailable):
                await self._put_back(job.receipt, attempts=job.attempt - 1)

    async def status(self) -> dict[str, int | None]:
        await self.connect()
        try:
            waiting = await self.count(self.main)
            failed = await self.count(self.failed_queue)
            delayed = 0
            for bucket in range(DELAY_BUCKETS):
                delayed += await self.count(f"{self.main}.delay.{bucket}")
        except CONNECTION_ERRORS as exc:
            raise QueueUnavailable(f"amqp: {exc!r}") from exc
        return {
            "waiting": waiting,
            "active": None,
            "delayed": delayed,
            "failed": failed,
            "completed": None,
        }

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

    async def delete_everything(self) -> None:
        """Delete this queue's RabbitMQ queues and registry (tests and decommissioning)."""
        channel = await self.connect()
        for name in list(self._queues):
            await channel.queue_delete(name)
        await self.registry.delete(channel)

    async def ping(self) -> None:
        channel = await self.connect()
        if channel.is_closed:
            raise QueueUnavailable("amqp channel is closed")

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
            self.connection = None


def _headers(message: AbstractIncomingMessage) -> dict[str, Any]:
    return dict(message.headers or {})


def _job(message: AbstractIncomingMessage) -> Job:
    headers = _headers(message)
    if not message.message_id:
        raise ValueError("the message has no job id")
    return Job(
        id=message.message_id,
        type=message.type or "",
        payload=json.loads(message.body),
        priority=int(headers.get("priority", 0) or 0),
        attempt=int(headers.get("attempts", 0) or 0) + 1,
        enqueued_at=int(headers.get("enqueued_at", 0) or 0) / 1000,
        history=json.loads(str(headers.get("history") or "[]")),
        receipt=message,
    )
