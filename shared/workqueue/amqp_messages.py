"""Messages and queues of the RabbitMQ backend: names, routes, and jobs as messages.

Queues, all durable:
    wq.<name>            the work: x-max-priority 10, consumed with manual acks and a
                         prefetch of the worker's concurrency
    wq.<name>.delay.<k>  delayed jobs and retries: a message waits out its per-message TTL,
                         then the dead-letter exchange routes it back to wq.<name>. Bucket k
                         holds delays in [2^(k-1), 2^k) ms, so a short delay never waits
                         behind a much longer one.
    wq.<name>.dead       the failed set, capped in code (see amqp_failed)
    wq.<name>.schedules  repeatable jobs, a message each (see amqp_schedules)
    wq.<name>.ids        the job id registry that de-duplicates enqueues (see amqp_registry)

A job's state travels in its message's headers: `attempts` (attempts that have ended),
`enqueued_at` (ms), `priority` (0..255; the AMQP priority is capped at 9), `history`
(JSON list), and on a retry or failure `error`, `traceback` and `state`.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from shared.workqueue.base import Job, NewJob, Outcome

CONNECTION_ERRORS = (
    aiormq.exceptions.AMQPError,
    aio_pika.exceptions.AMQPException,
    ConnectionError,
    RuntimeError,  # aio-pika's "connection closed" on a channel of a dead connection
    OSError,
    asyncio.TimeoutError,
)

DELAY_BUCKETS = 28  # up to 2^27 ms, about 37 hours
AMQP_MAX_PRIORITY = 9


def delay_bucket(delay_ms: int) -> int:
    return min(DELAY_BUCKETS - 1, max(0, math.ceil(math.log2(max(delay_ms, 1) + 1))))


class Layout:
    """The queue names of one work queue and the route of a message by its delay."""

    def __init__(self, name: str) -> None:
        self.main = f"wq.{name}"
        self.failed = f"wq.{name}.dead"
        self.legacy_failed = f"wq.{name}.failed"  # before the failed set was capped in code
        self.schedules = f"wq.{name}.schedules"  # one message per schedule (amqp_schedules)
        self.delays = [f"{self.main}.delay.{bucket}" for bucket in range(DELAY_BUCKETS)]

    def route(self, delay: float) -> tuple[str, float | None]:
        """(routing key, expiration in seconds) of a job due in `delay` seconds."""
        delay_ms = int(delay * 1000)
        if delay_ms <= 0:
            return self.main, None
        return self.delays[delay_bucket(delay_ms)], delay_ms / 1000

    async def declare(self, channel: AbstractChannel) -> dict[str, AbstractQueue]:
        """Declare every queue (the same arguments as ever: a change would be refused)."""
        queues = {
            self.main: await channel.declare_queue(
                self.main, durable=True, arguments={"x-max-priority": AMQP_MAX_PRIORITY + 1}
            ),
            self.failed: await channel.declare_queue(self.failed, durable=True),
            self.schedules: await channel.declare_queue(self.schedules, durable=True),
        }
        for name in self.delays:
            queues[name] = await channel.declare_queue(
                name,
                durable=True,
                arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.main},
            )
        return queues


def job_message(
    job_id: str, job_type: str, body: bytes, priority: int, headers: dict[str, Any]
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


def new_job_message(layout: Layout, job: NewJob) -> tuple[aio_pika.Message, str]:
    routing_key, expiration = layout.route(job.delay)
    message = job_message(
        job.job_id,
        job.job_type,
        json.dumps(job.payload, separators=(",", ":")).encode(),
        job.priority,
        {
            "enqueued_at": int(time.time() * 1000),
            "attempts": 0,
            "history": "[]",
            **({"group": job.group} if job.group else {}),
        },
    )
    message.expiration = expiration
    return message, routing_key


def outcome_message(layout: Layout, o: Outcome) -> tuple[aio_pika.Message, str]:
    """The message a retry (to its delay bucket) or a failure (to the failed set) becomes."""
    job = o.job
    entry: dict[str, Any] = {
        "attempt": job.attempt,
        "error": o.error,
        "at": int(time.time() * 1000),
    }
    if o.hung:
        entry["hung"] = True
    history = [*job.history, entry]
    headers = {
        **({"group": job.group} if job.group else {}),
        "enqueued_at": int(job.enqueued_at * 1000),
        "attempts": job.attempt,
        "history": json.dumps(history),
        "error": o.error[:4000],
        "traceback": o.traceback[-4000:],
        "state": o.kind,
    }
    message = job_message(job.id, job.type, job.receipt.body, job.priority, headers)
    if o.kind != "retry":
        return message, layout.failed
    routing_key, message.expiration = layout.route(o.delay)
    return message, routing_key


def copy_of(message: AbstractIncomingMessage, **headers: Any) -> aio_pika.Message:
    """A delivered job as a new message, with some headers replaced."""
    merged = headers_of(message) | headers
    priority = int(merged.get("priority", 0) or 0)
    return job_message(message.message_id or "", message.type or "", message.body, priority, merged)


def headers_of(message: AbstractIncomingMessage) -> dict[str, Any]:
    return dict(message.headers or {})


def job_from(message: AbstractIncomingMessage) -> Job:
    """The job of a delivery (ValueError or TypeError if it is not a job)."""
    headers = headers_of(message)
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
        group=str(headers["group"]) if headers.get("group") else None,
    )
