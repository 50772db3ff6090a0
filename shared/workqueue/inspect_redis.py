"""The Redis side of the console's reads: a state's sorted set walked from a position."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

from shared.workqueue.base import WorkQueue
from shared.workqueue.inspect import SCAN_LIMIT, Page, Position, Search, encode_cursor
from shared.workqueue.redis_backend import RedisWorkQueue, _describe

CHUNK = 200
NEWEST_FIRST = frozenset({"failed", "completed"})
# What a state's sorted-set score means, as a field of the listed job (seconds).
SCORE_FIELD = {
    "active": "visible_until",
    "delayed": "due_at",
    "failed": "failed_at",
    "completed": "completed_at",
}


async def _walk(
    queue: RedisWorkQueue, state: str, after: Position | None
) -> AsyncIterator[tuple[str, float]]:
    """(id, score) of the set from just after `after`, in the state's order. Ties of a score
    are ordered by id (ascending) in a sorted set, descending when walked in reverse."""
    key, desc = queue.key(state), state in NEWEST_FIRST
    bound: float | str = after.score if after else ("+inf" if desc else "-inf")
    offset = 0
    while True:
        if desc:
            got = await queue.redis.zrevrangebyscore(
                key, bound, "-inf", start=offset, num=CHUNK, withscores=True
            )
        else:
            got = await queue.redis.zrangebyscore(
                key, bound, "+inf", start=offset, num=CHUNK, withscores=True
            )
        rows = cast(list[tuple[str, float]], got)
        if not rows:
            return
        offset += len(rows)
        for raw, score in rows:
            member = str(raw)
            if after is None:
                yield member, float(score)
                continue
            seen = member >= after.job_id if desc else member <= after.job_id
            if score == after.score and seen:
                continue
            yield member, float(score)


async def _rows(queue: RedisWorkQueue, ids: list[str]) -> list[dict[str, str]]:
    async with queue.redis.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hgetall(queue.key(f"job:{job_id}"))
        return cast(list[dict[str, str]], await pipe.execute())


async def list_redis(
    queue: WorkQueue, state: str, limit: int, after: Position | None, search: Search
) -> Page:
    redis_queue = cast(RedisWorkQueue, queue)
    if search.job_id is not None and search.field is None:
        return await _by_id(redis_queue, state, search.job_id)
    items: list[dict[str, Any]] = []
    scanned, last, batch = 0, None, []
    more = False

    async def take(batch: list[tuple[str, float]]) -> None:
        rows = await _rows(redis_queue, [job_id for job_id, _ in batch])
        for (job_id, score), row in zip(batch, rows, strict=True):
            if row and len(items) < limit:
                job = _listed(job_id, row, state, score)
                if search.matches(job):
                    items.append(job)

    async for job_id, score in _walk(redis_queue, state, after):
        if len(items) >= limit or scanned >= SCAN_LIMIT:
            more = True
            break
        batch.append((job_id, score))
        scanned += 1
        if len(batch) == CHUNK or (search.empty and len(batch) == limit - len(items)):
            await take(batch)
            last, batch = batch[-1], []
    if batch:
        await take(batch)
        last = batch[-1]
    if len(items) >= limit:
        last_item = items[-1]
        last = (last_item["id"], last_item["_score"])
    for item in items:
        item.pop("_score")
    cursor = encode_cursor(Position(last[1], last[0])) if more and last else None
    return Page(state, items, cursor, scanned)


async def _by_id(queue: RedisWorkQueue, state: str, job_id: str) -> Page:
    score = await queue.redis.zscore(queue.key(state), job_id)
    row = (await _rows(queue, [job_id]))[0] if score is not None else {}
    items = [_listed(job_id, row, state, float(score))] if row and score is not None else []
    for item in items:
        item.pop("_score")
    return Page(state, items, None, 1)


def _listed(job_id: str, row: dict[str, str], state: str, score: float) -> dict[str, Any]:
    job = _describe(job_id, row)
    job["_score"] = score
    if state in SCORE_FIELD:
        job[SCORE_FIELD[state]] = score / 1000
    return job


async def states_redis(queue: WorkQueue, job_ids: list[str]) -> dict[str, str]:
    redis_queue = cast(RedisWorkQueue, queue)
    async with redis_queue.redis.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hget(redis_queue.key(f"job:{job_id}"), "state")
        states = await pipe.execute()
    return {i: s for i, s in zip(job_ids, states, strict=True) if s}
