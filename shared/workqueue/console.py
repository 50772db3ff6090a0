"""The console's actions that the queue API has no single call for: retry every failed job
of one error class, and clean completed or failed jobs older than an age.

    await retry_error_class(queue, "ConnectionRefusedError")  # -> jobs moved to waiting
    await clean(queue, "failed", older_than=3600)             # -> jobs deleted

An error class is the exception's name, the part of a job's error before the first ": "
(`ConnectionRefusedError: [Errno 111] ...`). RabbitMQ keeps no completed jobs, so cleaning
them removes nothing there.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import TYPE_CHECKING, Any, cast

import aio_pika
import aiormq
from aio_pika.abc import AbstractIncomingMessage
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.workqueue.base import QueueUnavailable, WorkQueue
from shared.workqueue.history import journal_for
from shared.workqueue.inspect import BadQuery

if TYPE_CHECKING:
    from shared.workqueue.amqp_backend import AmqpWorkQueue
    from shared.workqueue.redis_backend import RedisWorkQueue

# What a broker that is away raises to the console's reads and actions (besides
# QueueUnavailable, which the queue API raises itself).
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    QueueUnavailable,
    RedisConnectionError,
    RedisTimeoutError,
    aiormq.exceptions.AMQPConnectionError,
    aio_pika.exceptions.AMQPConnectionError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    TimeoutError,
)
CLEANABLE = ("completed", "failed")
CHUNK = 500

# ARGV: set (completed or failed), cutoff_ms, max. Deletes up to `max` jobs of the set scored
# before the cutoff (their time of completion or failure); returns their ids.
CLEAN = """
local p, set = KEYS[1], ARGV[1]
local ids = redis.call('ZRANGEBYSCORE', p .. set, '-inf', '(' .. ARGV[2], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(ids) do
  redis.call('ZREM', p .. set, id)
  redis.call('DEL', p .. 'job:' .. id)
end
return ids
"""


def error_class(error: str | None) -> str:
    """`ValueError` of `ValueError: bad input` (the whole text when it has no ": ")."""
    return (error or "").split(": ", 1)[0].strip()


async def error_classes(queue: WorkQueue, scan: int = 5_000) -> dict[str, int]:
    """How many failed jobs each error class has (among the newest `scan`)."""
    jobs = await queue.failed(0, scan)
    return dict(Counter(error_class(job.get("error")) for job in jobs).most_common())


async def retry_error_class(queue: WorkQueue, name: str) -> int:
    """Move every failed job whose error class is `name` back to waiting; return how many."""
    if not name.strip():
        raise BadQuery("an error class is needed (the exception's name)")
    if queue.backend == "redis":
        jobs = await queue.failed(0, 1_000_000)
        ids = [job["id"] for job in jobs if error_class(job.get("error")) == name]
        moved = 0
        for start in range(0, len(ids), CHUNK):
            redis_queue = cast("RedisWorkQueue", queue)
            moved += int(await redis_queue._run("RETRY_FAILED", ids[start : start + CHUNK]))
        return moved
    return await _amqp_retry_class(cast("AmqpWorkQueue", queue), name)


async def _amqp_retry_class(queue: AmqpWorkQueue, name: str) -> int:
    from shared.workqueue.amqp_messages import copy_of

    moved: set[str] = set()

    async def move(message: AbstractIncomingMessage) -> bool:
        headers = dict(message.headers or {})
        # A moved job that fails again while the scan still runs comes back to the failed
        # queue behind it: left alone, so each job is retried once.
        if message.message_id in moved or error_class(str(headers.get("error") or "")) != name:
            return False
        await queue.publish([(copy_of(message, attempts=0, state="waiting"), queue.layout.main)])
        moved.add(message.message_id or "")
        return True

    return await queue.failed_jobs.scan(move)


async def clean(queue: WorkQueue, state: str, older_than: float) -> int:
    """Delete the jobs of `state` (completed or failed) that reached it more than
    `older_than` seconds ago, with their events; return how many."""
    if state not in CLEANABLE:
        raise BadQuery(f"only {' and '.join(CLEANABLE)} jobs can be cleaned, not {state!r}")
    if older_than < 0:
        raise BadQuery("older_than must not be negative")
    cutoff_ms = int((time.time() - older_than) * 1000)
    if queue.backend == "redis":
        return await _redis_clean(cast("RedisWorkQueue", queue), state, cutoff_ms)
    if state == "completed":
        return 0
    return await _amqp_clean_failed(cast("AmqpWorkQueue", queue), cutoff_ms)


async def _redis_clean(queue: RedisWorkQueue, state: str, cutoff_ms: int) -> int:
    script = queue.redis.register_script(CLEAN)
    journal = journal_for(queue)
    total = 0
    while True:
        ids: list[str] = await script(keys=[queue.prefix], args=[state, cutoff_ms, CHUNK])
        await journal.forget(ids)
        total += len(ids)
        if len(ids) < CHUNK:
            return total


async def _amqp_clean_failed(queue: AmqpWorkQueue, cutoff_ms: int) -> int:
    journal = journal_for(queue)

    async def drop(message: AbstractIncomingMessage) -> bool:
        if _failed_at(dict(message.headers or {})) >= cutoff_ms:
            return False
        if message.message_id:
            await queue.registry.remove([message.message_id])  # before the message goes
            await journal.forget([message.message_id])
        return True

    await queue.connect()
    return await queue.failed_jobs.scan(drop)


def _failed_at(headers: dict[str, Any]) -> int:
    """When a failed message failed: its last attempt's time (ms)."""
    history = json.loads(str(headers.get("history") or "[]"))
    times = [int(entry.get("at", 0)) for entry in history]
    return max(times) if times else int(headers.get("enqueued_at", 0) or 0)
