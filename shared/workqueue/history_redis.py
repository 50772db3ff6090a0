"""The Redis journal (see history.py): events and counters written in the background.

A worker's claims and outcomes go into a buffer; one writer task per journal stores
everything buffered in one script call, then again while more came in, so a busy worker
adds one round trip per burst, not per batch, and never waits for it.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from shared.workqueue.base import Job, Outcome
from shared.workqueue.history import (
    EVENTS_KEPT,
    EVENTS_TTL,
    STATS_TTL,
    Deadline,
    Starts,
    claimed_event,
    counters,
    log,
    minute_counts,
    now_ms,
    outcome_event,
)

# ARGV: kept, events ttl, stats ttl, n, then n triples (job id, event JSON, 1 to push the
# key's expiry on or 0), then per minute touched: minute, k, then k pairs (counter, increment).
APPEND = """
local p = KEYS[1]
local kept, ttl, stats_ttl, n = tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4])
local i = 5
for _ = 1, n do
  local key = p .. 'events:' .. ARGV[i]
  local len = redis.call('RPUSH', key, ARGV[i + 1])
  if len > kept then redis.call('LTRIM', key, -kept, -1) end
  -- A claim extends nothing (its outcome will, or the first event's TTL ends the key).
  if len == 1 or ARGV[i + 2] == '1' then redis.call('EXPIRE', key, ttl) end
  i = i + 3
end
while i <= #ARGV do
  local key, k = p .. 'minute:' .. ARGV[i], tonumber(ARGV[i + 1])
  i = i + 2
  for _ = 1, k do
    redis.call('HINCRBY', key, ARGV[i], ARGV[i + 1])
    i = i + 2
  end
  redis.call('EXPIRE', key, stats_ttl)
end
return n
"""


class RedisJournal(Starts):
    def __init__(self, redis: Any, prefix: str) -> None:
        super().__init__()
        self.redis = redis
        self.prefix = prefix
        self._script = redis.register_script(APPEND)
        self._events: list[tuple[str, str, int]] = []
        self._counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._writer: asyncio.Task[None] | None = None

    def _add(self, job_id: str, event: dict[str, Any], extend: int) -> None:
        self._events.append((job_id, json.dumps(event, separators=(",", ":")), extend))

    def _kick(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="workqueue-journal")

    async def _write(self) -> None:
        while self._events or self._counts:
            events, self._events = self._events, []
            counts, self._counts = self._counts, defaultdict(lambda: defaultdict(int))
            args: list[Any] = [EVENTS_KEPT, EVENTS_TTL, STATS_TTL, len(events)]
            for event in events:
                args += event
            for minute, values in counts.items():
                args += [minute, len(values)]
                for name, value in values.items():
                    args += [name, value]
            try:
                await self._script(keys=[self.prefix], args=args)
            except Exception as exc:  # history is for people; the outcome is recorded already
                log.warning("could not record job events", error=repr(exc), events=len(events))

    async def claimed(self, jobs: Sequence[Job], deadline: Deadline) -> None:
        if jobs:
            at = now_ms()
            self.start(jobs, at)
            for job in jobs:
                self._add(job.id, claimed_event(job, deadline(job.type), at), 0)
            self._kick()

    async def settled(self, outcomes: Sequence[Outcome]) -> None:
        if outcomes:
            at = now_ms()
            for o in outcomes:
                self._add(o.job.id, outcome_event(o, at), 1)
            bucket = self._counts[at // 60_000]
            for name, value in minute_counts(outcomes, self.runs(outcomes, at)).items():
                bucket[name] += value
            self._kick()

    async def flush(self) -> None:
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def events(self, job_id: str) -> list[dict[str, Any]]:
        rows = await self.redis.lrange(f"{self.prefix}events:{job_id}", 0, -1)
        return [json.loads(row) for row in rows]

    async def last_events(self, job_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.lindex(f"{self.prefix}events:{job_id}", -1)
            rows = await pipe.execute()
        return {i: json.loads(row) for i, row in zip(job_ids, rows, strict=True) if row}

    async def minutes(self, count: int = 60) -> list[dict[str, int]]:
        last = now_ms() // 60_000
        minutes = list(range(last - count + 1, last + 1))
        async with self.redis.pipeline(transaction=False) as pipe:
            for minute in minutes:
                pipe.hgetall(f"{self.prefix}minute:{minute}")
            rows = await pipe.execute()
        return [counters(m, row) for m, row in zip(minutes, rows, strict=True)]

    async def forget(self, job_ids: Sequence[str]) -> None:
        if job_ids:
            await self.redis.delete(*(f"{self.prefix}events:{i}" for i in job_ids))
