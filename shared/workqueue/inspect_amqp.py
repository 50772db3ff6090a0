"""The RabbitMQ side of the console's reads: the failed set and the delay queues, read on a
channel of their own and put back (see inspect.py for what RabbitMQ cannot list)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from aio_pika.abc import AbstractIncomingMessage

from shared.workqueue.amqp_failed import describe
from shared.workqueue.base import WorkQueue
from shared.workqueue.inspect import SCAN_LIMIT, Page, Position, Search, encode_cursor

if TYPE_CHECKING:
    from shared.workqueue.amqp_backend import AmqpWorkQueue

UNLISTABLE = {
    "waiting": "RabbitMQ cannot show waiting jobs without taking them: a read and put back "
    "marks them redelivered, which counts as a lost attempt",
    "active": "running jobs are held by the workers' connections; RabbitMQ does not show them",
    "completed": "RabbitMQ keeps nothing of a job once it is acknowledged",
}


def delayed_describe(message: AbstractIncomingMessage) -> dict[str, Any]:
    """A delayed job: due when its per-message TTL runs out, counted from when it entered its
    delay queue (its last failure, or its enqueue)."""
    job = describe(message)
    job["state"] = "delayed"
    since = max([job.get("enqueued_at") or 0] + [h.get("at", 0) / 1000 for h in job["history"]])
    expiration = message.expiration
    ttl = float(expiration) if isinstance(expiration, int | float) else 0.0
    job["due_at"] = since + ttl if ttl else None
    return job


async def _read(queue: AmqpWorkQueue, state: str) -> list[dict[str, Any]]:
    """Every job of `state` (at most SCAN_LIMIT), in the order the list shows them."""
    found: list[dict[str, Any]] = []
    show = describe if state == "failed" else delayed_describe

    async def collect(message: AbstractIncomingMessage) -> bool:
        if len(found) < SCAN_LIMIT:
            found.append(show(message))
        return False

    await queue.connect()
    names = [queue.layout.failed] if state == "failed" else queue.layout.delays
    for name in names:
        if await queue.count(name):
            await queue.failed_jobs.scan(collect, name)
    if state == "failed":
        found.reverse()  # newest first
    else:
        found.sort(key=lambda job: (job["due_at"] or 0, job["id"]))
    return found


async def list_amqp(
    queue: WorkQueue, state: str, limit: int, after: Position | None, search: Search
) -> Page:
    if state in UNLISTABLE:
        return Page(state, [], None, 0, listable=False, reason=UNLISTABLE[state])
    jobs = await _read(cast("AmqpWorkQueue", queue), state)
    # A position is the last job shown and its index: the page goes on after that job, or
    # at its index when the job has left in between.
    ids = [job["id"] for job in jobs]
    start = 0
    if after is not None:
        start = ids.index(after.job_id) + 1 if after.job_id in ids else int(after.score) + 1
    items: list[dict[str, Any]] = []
    last = start - 1
    for index in range(start, len(jobs)):
        if len(items) == limit:
            break
        last = index
        if search.matches(jobs[index]):
            items.append(jobs[index])
    more = last + 1 < len(jobs)
    cursor = encode_cursor(Position(last, jobs[last]["id"] or "")) if more else None
    return Page(state, items, cursor, last + 1 - start)


async def find_amqp(queue: WorkQueue, job_id: str) -> dict[str, Any] | None:
    """The job if it is failed or delayed (the only places RabbitMQ lets one look)."""
    amqp = cast("AmqpWorkQueue", queue)
    for state in ("failed", "delayed"):
        for job in await _read(amqp, state):
            if job["id"] == job_id:
                return job
    return None


async def held_amqp(queue: WorkQueue, job_ids: list[str]) -> dict[str, str]:
    """Which ids the queue holds (its id registry knows them: waiting, delayed, running or
    failed; RabbitMQ cannot say which without reading every queue)."""
    amqp = cast("AmqpWorkQueue", queue)
    await amqp.connect()
    return dict.fromkeys(await amqp.registry.known(job_ids), "held")
