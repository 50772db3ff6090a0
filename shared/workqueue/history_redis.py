"""The Redis journal (see history.py): events and counters written in the background.

A worker's claims and outcomes go into a buffer; one writer task per journal stores
everything buffered in one script call, then again while more came in, so a busy worker
adds one round trip per burst, not per batch, and never waits for it.

A claim is not written when it is made: a job that ends within CLAIM_LINGER has its
`claimed` event written with its outcome (one RPUSH and one EXPIRE per attempt instead of
two of each, which halved what the journal costs Redis for short jobs). The claims of jobs
still running after CLAIM_LINGER are written on their own, so the console names the
worker of a long job about a second after it started.
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
    claimed_json,
    counters,
    log,
    minute_counts,
    now_ms,
    outcome_json,
)

CLAIM_LINGER = 1.0  # seconds a claim waits for its outcome before it is written alone

# ARGV: kept, events ttl, stats ttl, JSON [[job id, [event JSON text, ...]], ...], JSON
# [[minute, {counter: increment}], ...]. Two JSON arguments instead of four or more per job:
# the client packs one string in C instead of every argument in Python.
APPEND = """
local p = KEYS[1]
local kept, ttl, stats_ttl = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local jobs = cjson.decode(ARGV[4])
for _, job in ipairs(jobs) do
  local key = p .. 'events:' .. job[1]
  local len = redis.call('RPUSH', key, unpack(job[2]))
  if len > kept then redis.call('LTRIM', key, -kept, -1) end
  redis.call('EXPIRE', key, ttl)
end
for _, minute in ipairs(cjson.decode(ARGV[5])) do
  local key = p .. 'minute:' .. minute[1]
  for name, value in pairs(minute[2]) do redis.call('HINCRBY', key, name, value) end
  redis.call('EXPIRE', key, stats_ttl)
end
return #jobs
"""


class RedisJournal(Starts):
    def __init__(self, redis: Any, prefix: str) -> None:
        super().__init__()
        self.redis = redis
        self.prefix = prefix
        self._script = redis.register_script(APPEND)
        # Claims not written yet, oldest first: job id -> (claimed at, event, the claimed Job).
        self._claims: dict[str, tuple[int, str, Job]] = {}
        self._events: list[tuple[str, list[str]]] = []  # (job id, its events' JSON), in order
        self._counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._writer: asyncio.Task[None] | None = None
        self._lingering: asyncio.Task[None] | None = None

    def _kick(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="workqueue-journal")

    async def _write(self) -> None:
        while self._events or self._counts:
            events, self._events = self._events, []
            counts, self._counts = self._counts, defaultdict(lambda: defaultdict(int))
            texts = json.dumps(events, separators=(",", ":"))
            minutes = json.dumps(list(counts.items()), separators=(",", ":"))
            args = [EVENTS_KEPT, EVENTS_TTL, STATS_TTL, texts, minutes]
            try:
                await self._script(keys=[self.prefix], args=args)
            except Exception as exc:  # history is for people; the outcome is recorded already
                log.warning("could not record job events", error=repr(exc), events=len(events))

    async def _write_lingering(self) -> None:
        """Write the claims of jobs still running CLAIM_LINGER after they were claimed."""
        linger = int(CLAIM_LINGER * 1000)
        while self._claims:
            wait = next(iter(self._claims.values()))[0] + linger - now_ms()
            if wait > 0:
                await asyncio.sleep(wait / 1000)
                continue
            cutoff = now_ms() - linger
            for job_id, (at, event, _) in list(self._claims.items()):
                if at > cutoff:
                    break
                del self._claims[job_id]
                self._events.append((job_id, [event]))
            self._kick()

    async def claimed(
        self, jobs: Sequence[Job], deadline: Deadline, *, events: bool = True
    ) -> None:
        if not jobs:
            return
        at = now_ms()
        self.start(jobs, at)
        if not events:
            return
        for job in jobs:
            earlier = self._claims.pop(job.id, None)
            if earlier is not None:  # claimed again before the first claim's outcome came
                self._events.append((job.id, [earlier[1]]))
            self._claims[job.id] = (at, claimed_json(job, deadline(job.type), at), job)
        if self._lingering is None or self._lingering.done():
            self._lingering = asyncio.create_task(self._write_lingering(), name="workqueue-claims")

    async def settled(self, outcomes: Sequence[Outcome], *, events: bool = True) -> None:
        if not outcomes:
            return
        at = now_ms()
        for o in outcomes if events else ():
            claim = self._claims.get(o.job.id)
            texts = [outcome_json(o, at)]
            if claim is not None and claim[2] is o.job:
                del self._claims[o.job.id]
                texts.insert(0, claim[1])
            self._events.append((o.job.id, texts))
        bucket = self._counts[at // 60_000]
        for name, value in minute_counts(outcomes, self.runs(outcomes, at)).items():
            bucket[name] += value
        self._kick()

    async def flush(self) -> None:
        self._events += [(job_id, [event]) for job_id, (_, event, _) in self._claims.items()]
        self._claims.clear()
        self._kick()
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
