"""RabbitMQ backend (aio-pika): durable priority queue, publisher confirms, manual acks.
Queues: amqp_messages; job id registry: amqp_registry; failed set: amqp_failed; pause and
rate limit: amqp_flow; operators' actions: amqp_admin.

Attempts: a message redelivered by the broker (its consumer died or lost the connection
while holding it) is published again with its attempt count raised and the original
acknowledged, so every lost claim counts and a job that kills its worker ends in the failed
set after its max attempts instead of looping (`redelivered` alone is a boolean). Quorum
queues count deliveries, but before RabbitMQ 3.13 they have no priorities and after it two.

A job held by a worker whose connection dies is redelivered by the broker (no visibility
timeout needed). After an outage the next call reconnects and re-subscribes, with the
largest batch the worker ever asked for (its concurrency) as the prefetch. RabbitMQ keeps
no record of finished jobs, so `completed` and `active` are not counted here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

import aio_pika
import aiormq
from aio_pika import abc

from shared.logging import get_logger
from shared.retry import chunked
from shared.workqueue.amqp_admin import AmqpAdmin
from shared.workqueue.amqp_failed import FailedJobs, migrate_legacy
from shared.workqueue.amqp_flow import PAUSE_POLL, Flow
from shared.workqueue.amqp_groups import GroupSlots
from shared.workqueue.amqp_messages import (
    CONNECTION_ERRORS,
    Layout,
    copy_of,
    headers_of,
    job_from,
    new_job_message,
    outcome_message,
)
from shared.workqueue.amqp_registry import JobRegistry
from shared.workqueue.amqp_schedules import ScheduleStore
from shared.workqueue.base import BatchEnqueue, Job, NewJob, Outcome, QueueUnavailable, RateLimit

log = get_logger(__name__)

PUBLISH_WINDOW = 1000
MAX_ID_BYTES = 255  # a routing key of the id registry


class AmqpWorkQueue(AmqpAdmin, BatchEnqueue):
    backend = "amqp"

    def __init__(self, url: str, name: str, *, keep_failed: int = 10_000) -> None:
        self.url = url
        self.name = name
        self.layout = Layout(name)
        self.keep_failed = keep_failed
        self.registry = JobRegistry(self.layout.main)
        self.failed_jobs = FailedJobs(self)
        self.flow = Flow(self.layout.main, self.registry.sink_name)
        self.schedule_store = ScheduleStore(self)
        self.groups = GroupSlots(self)
        self.paused = False
        self.connection: abc.AbstractConnection | None = None
        self._channel: abc.AbstractChannel | None = None
        self._consume_channel: abc.AbstractChannel | None = None
        self._queues: dict[str, abc.AbstractQueue] = {}
        self._buffer: asyncio.Queue[abc.AbstractIncomingMessage] = asyncio.Queue()
        self._held: deque[abc.AbstractIncomingMessage] = deque()  # delivered, no ticket yet
        self._consumer_tag: str | None = None
        self._consume_queue: abc.AbstractQueue | None = None
        self._prefetch = 1  # the largest batch a claim asked for (the worker's concurrency)
        self._lock = asyncio.Lock()

    async def connect(self) -> abc.AbstractChannel:
        """The publishing channel; (re)connects after a broker outage or restart."""
        async with self._lock:
            if self._channel is not None and not self._channel.is_closed:
                return self._channel
            try:
                if self.connection is None or self.connection.is_closed:
                    self._forget_consumer()
                    self.connection = await aio_pika.connect(self.url, timeout=5)
                self._channel = await self.connection.channel(publisher_confirms=True)
                self._queues = await self.layout.declare(self._channel)
                await self.registry.declare(self.connection, self._channel)
                await self.flow.declare(self._channel)
                moved = await migrate_legacy(
                    self.connection, self._channel, self.layout.legacy_failed, self.layout.failed
                )
            except CONNECTION_ERRORS as exc:
                await self._drop_connection()
                raise QueueUnavailable(f"amqp: {exc!r}") from exc
            if moved:
                log.warning("failed jobs moved from the previous failed queue", jobs=moved)
            return self._channel

    def _forget_consumer(self) -> None:
        # Messages of a dead channel cannot be acked; the broker redelivers them.
        self._consumer_tag = None
        self._consume_queue = None
        self._held.clear()
        self.groups.forget()
        while not self._buffer.empty():
            self._buffer.get_nowait()

    async def _drop_connection(self) -> None:
        connection, self.connection, self._channel = self.connection, None, None
        self._forget_consumer()
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    async def publish(self, messages: list[tuple[aio_pika.Message, str]]) -> None:
        """Publish with confirms; a message the broker could not route is an error."""
        channel = await self.connect()
        exchange = channel.default_exchange
        try:
            # Confirms are awaited a window at a time: the broker acks them in batches.
            for window in chunked(messages, PUBLISH_WINDOW):
                results = await asyncio.gather(
                    *(exchange.publish(m, routing_key=rk) for m, rk in window)
                )
                if any(isinstance(r, aiormq.abc.DeliveredMessage) for r in results):
                    raise QueueUnavailable("amqp: a job was returned unroutable")
        except CONNECTION_ERRORS as exc:
            await self._drop_connection()
            raise QueueUnavailable(f"amqp: {exc!r}") from exc

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
                return await self.enqueue_locked(jobs)
        except CONNECTION_ERRORS as exc:
            await self._drop_connection()
            raise QueueUnavailable(f"amqp: {exc!r}") from exc

    async def enqueue_locked(self, jobs: list[NewJob]) -> list[bool]:  # holding the lock
        known = await self.registry.known(list({job.job_id for job in jobs}))
        flags = []
        fresh: list[NewJob] = []
        for job in jobs:
            new = job.job_id not in known
            known.add(job.job_id)  # a repeat within the batch is a duplicate too
            flags.append(new)
            if new:
                fresh.append(job)
        await self.publish([new_job_message(self.layout, job) for job in fresh])
        await self.registry.add([job.job_id for job in fresh])  # after the publish
        return flags

    async def claim(
        self, count: int, timeout: float, *, limit: RateLimit | None = None, group_limit: int = 0
    ) -> list[Job]:
        self._prefetch = max(self._prefetch, count)
        if await self._check_paused():
            await asyncio.sleep(min(timeout, PAUSE_POLL))
            return []
        await self._subscribe()
        messages = [self._held.popleft() for _ in range(min(count, len(self._held)))]
        if not messages:
            try:
                messages.append(await asyncio.wait_for(self._buffer.get(), timeout))
            except TimeoutError:
                return []
        while len(messages) < count and not self._buffer.empty():
            messages.append(self._buffer.get_nowait())
        if limit is not None:
            granted = await self._tickets(limit, len(messages))
            self._held.extendleft(reversed(messages[granted:]))
            messages = messages[:granted]
            if not messages:
                await asyncio.sleep(min(timeout, self.flow.ticket_wait(limit)))
                return []
        jobs = []
        for message in messages:
            job = await self._accept(message)
            if job is not None:
                jobs.append(job)
        return await self.groups.admit(jobs, group_limit) if group_limit > 0 else jobs

    async def _check_paused(self) -> bool:
        """True (after giving back what the broker pushed ahead) while the queue is paused."""
        try:
            self.paused = await self.flow.paused(await self.connect())
        except CONNECTION_ERRORS as exc:
            await self._drop_connection()
            raise QueueUnavailable(f"amqp: {exc!r}") from exc
        if self.paused:
            await self.stop_claiming()
        return self.paused

    async def _tickets(self, limit: RateLimit, wanted: int) -> int:
        try:
            return await self.flow.tickets(await self.connect(), limit, wanted)
        except CONNECTION_ERRORS as exc:
            await self._drop_connection()
            raise QueueUnavailable(f"amqp: {exc!r}") from exc

    async def _accept(self, message: abc.AbstractIncomingMessage) -> Job | None:
        """The job of a delivery, or None when the delivery was dealt with here."""
        try:
            job = job_from(message)
        except (ValueError, TypeError) as exc:
            log.warning("malformed job moved to the failed set", job_id=message.message_id)
            await self._move(message, self.layout.failed, error=f"MalformedJob: {exc}")
            return None
        if message.redelivered:
            # The delivery before this one ended without an ack: that claim was an attempt.
            await self._move(message, self.layout.main, attempts=job.attempt)
            return None
        return job

    async def _move(self, message: abc.AbstractIncomingMessage, queue: str, **headers: Any) -> None:
        """Publish a copy of a delivered job (confirmed), then acknowledge the delivery."""
        await self.publish([(copy_of(message, **headers), queue)])
        with contextlib.suppress(*CONNECTION_ERRORS):
            await message.ack()

    async def _subscribe(self) -> None:
        alive = self._consume_channel is not None and not self._consume_channel.is_closed
        if self._consumer_tag is not None and alive:
            return
        await self.connect()
        assert self.connection is not None
        try:
            if self._consume_channel is None or self._consume_channel.is_closed:
                self._forget_consumer()
                self._consume_channel = await self.connection.channel()
            # else a pause cancelled the consumer: the channel stays, and with it the acks of
            # the jobs still running (closing it would make the broker deliver them again).
            # The prefetch is the worker's concurrency, not the slots free right now: after
            # a reconnect under load those are few, and a small prefetch would stay.
            await self._consume_channel.set_qos(prefetch_count=self._prefetch)
            queue = await self._consume_channel.get_queue(self.layout.main, ensure=False)
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
        while self._held or not self._buffer.empty():
            message = self._held.popleft() if self._held else self._buffer.get_nowait()
            attempts = int(headers_of(message).get("attempts", 0) or 0)
            with contextlib.suppress(QueueUnavailable):
                await self._move(
                    message, self.layout.main, attempts=attempts + int(bool(message.redelivered))
                )

    async def settle(self, outcomes: list[Outcome]) -> None:
        moves = [outcome_message(self.layout, o) for o in outcomes if o.kind != "completed"]
        if moves:
            await self.publish(moves)  # a retry or failure is stored before the ack
        for o in outcomes:
            # A message of a channel that has since closed is redelivered by the broker.
            with contextlib.suppress(*CONNECTION_ERRORS):
                await o.job.receipt.ack()
        # Forgotten after the ack, in the background: a crash before leaves a completed id
        # known, as the Redis backend keeps completed ids.
        self.registry.forget_later([o.job.id for o in outcomes if o.kind == "completed"])
        await self.groups.release([o.job for o in outcomes])
        if any(o.kind == "failed" for o in outcomes):
            try:
                await self.failed_jobs.trim()
            except (*CONNECTION_ERRORS, QueueUnavailable) as exc:
                log.warning("could not trim the failed set", error=repr(exc))

    async def extend(self, jobs: list[Job]) -> None:
        """Nothing to do: RabbitMQ holds unacked messages as long as the channel lives."""

    async def release(self, jobs: list[Job]) -> None:
        """Give unstarted jobs back as they came (not an attempt): republished, then acked."""
        for job in jobs:
            with contextlib.suppress(QueueUnavailable):
                await self._move(job.receipt, self.layout.main, attempts=job.attempt - 1)
        await self.groups.release(jobs)

    async def close(self) -> None:
        await self.registry.flush(timeout=5.0)
        if self.connection is not None:
            await self.connection.close()
            self.connection = None
