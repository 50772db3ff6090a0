"""Redis backend: sorted sets and hashes moved by Lua scripts, one round trip per batch.

Pickup: `claim` runs one script that promotes due delayed jobs, returns stalled jobs (past
their visibility deadline) to waiting, and pops up to N jobs by priority. When nothing is
ready, the worker blocks on a wake-up list (BLPOP) that every enqueue pushes to, for at
most the time until the next delayed job is due: a new job starts within milliseconds and
an idle worker sends no commands in between.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import redis.asyncio as aioredis

from shared.retry import chunked
from shared.workqueue import redis_claim, redis_control, redis_safety
from shared.workqueue import redis_scripts as lua
from shared.workqueue.base import BatchEnqueue, Job, NewJob, Outcome, QueueUnavailable, RateLimit
from shared.workqueue.redis_schedules import CONNECTION_ERRORS, RedisSchedules

ENQUEUE_CHUNK = 1000


class RedisWorkQueue(RedisSchedules, BatchEnqueue):
    backend = "redis"
    claims_in_flight = 2  # each claim is one atomic script: a worker may run two side by side

    def __init__(
        self,
        url: str,
        name: str,
        *,
        visibility_timeout: float = 30.0,
        keep_completed: int = 10_000,
        keep_failed: int = 10_000,
        priority_aging: float = 0.0,
    ) -> None:
        self.name = name
        self.aging_ms = int(priority_aging * 1000)  # head start per priority level (0: strict)
        self.prefix = f"wq:{{{name}}}:"
        self.visibility_ms = int(visibility_timeout * 1000)
        self.keep_completed = keep_completed
        self.keep_failed = keep_failed
        options: dict[str, Any] = {
            "decode_responses": True,
            "socket_connect_timeout": 3.0,
            "socket_keepalive": True,
        }
        self.redis = aioredis.Redis.from_url(url, socket_timeout=10.0, **options)
        self.paused = False
        self._scripts = {
            name: self.redis.register_script(getattr(module, name))
            for module, names in (
                (lua, ("ENQUEUE", "SETTLE", "EXTEND", "RELEASE", "RETRY_FAILED")),
                (redis_claim, ("CLAIM",)),
                (lua, ("REMOVE", "PURGE_COMPLETED")),
                (redis_control, ("PAUSE", "PROMOTE", "ADD_SCHEDULE", "REMOVE_SCHEDULE")),
                (redis_control, ("DUE_SCHEDULES", "FIRE_SCHEDULE")),
            )
            for name in names
        }

    def key(self, suffix: str) -> str:
        return self.prefix + suffix

    async def _run(self, script: str, args: list[Any]) -> Any:
        try:
            return await self._scripts[script](keys=[self.prefix], args=args)
        except CONNECTION_ERRORS as exc:
            raise QueueUnavailable(f"redis: {exc}") from exc

    async def enqueue_many(self, jobs: list[NewJob]) -> list[bool]:
        if not jobs:
            return []
        script = self._scripts["ENQUEUE"]
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for chunk in chunked(jobs, ENQUEUE_CHUNK):
                    batch = [
                        [
                            job.job_id,
                            job.job_type,
                            _dumps(job.payload),
                            job.priority,
                            int(job.delay * 1000),
                            *([job.group] if job.group else []),
                        ]
                        for job in chunk
                    ]
                    args: list[str | int] = [_dumps(batch), self.aging_ms]
                    await script(keys=[self.prefix], args=args, client=pipe)
                results = await pipe.execute()
        except CONNECTION_ERRORS as exc:
            raise QueueUnavailable(f"redis: {exc}") from exc
        return [flag == "1" for flags in results for flag in flags]

    async def claim(
        self, count: int, timeout: float, *, limit: RateLimit | None = None, group_limit: int = 0
    ) -> list[Job]:
        jobs, now, next_due, rate_wait = await self._claim(count, limit, group_limit)
        if jobs or timeout <= 0:
            return jobs
        if rate_wait > 0:
            # Jobs wait but the window is used up: an enqueue would not help, time does.
            await asyncio.sleep(min(timeout, rate_wait / 1000))
        else:
            due = timeout if next_due < 0 else max(0.001, (next_due - now) / 1000)
            try:
                await self.redis.blpop([self.key("wake")], timeout=min(timeout, due))
            except CONNECTION_ERRORS as exc:
                raise QueueUnavailable(f"redis: {exc}") from exc
        jobs, _, _, _ = await self._claim(count, limit, group_limit)
        return jobs

    async def _claim(
        self, count: int, limit: RateLimit | None, group_limit: int
    ) -> tuple[list[Job], int, int, int]:
        # A random token per claim fences it: attempt numbers repeat (a release gives one
        # back, a retried failed job starts again at 1), a 64-bit random token does not. Each
        # call draws one; the script appends the job's place in the batch (prefix:n).
        rate = [limit.max_jobs, limit.window_ms] if limit else [0, 0]
        args = [count, self.visibility_ms, *rate, group_limit, secrets.token_hex(8) + ":"]
        out = json.loads(await self._run("CLAIM", args))
        now, next_due = int(out[0]), int(out[1])
        self.paused = bool(out[3])
        jobs = [
            Job(
                id=job_id,
                type=type_,
                payload=json.loads(payload),
                priority=int(priority),
                attempt=int(attempts),
                enqueued_at=int(enqueued_at) / 1000,
                history=json.loads(history) if history and history != "[]" else [],
                receipt=token,
                group=group or None,
            )
            for job_id, type_, payload, priority, attempts, enqueued_at, history, token, group in (
                out[5:]
            )
        ]
        return jobs, now, next_due, int(out[4])

    async def settle(self, outcomes: list[Outcome]) -> None:
        if not outcomes:
            return
        failures = [
            [
                o.job.id,
                o.job.receipt,
                o.job.attempt,
                o.kind,
                int(o.delay * 1000),
                o.error,
                o.traceback,
                int(o.hung),
            ]
            for o in outcomes
            if o.kind != "completed"
        ]
        done = [v for o in outcomes if o.kind == "completed" for v in (o.job.id, o.job.receipt)]
        await self._run("SETTLE", [self.keep_completed, self.keep_failed, _dumps(failures), *done])

    async def extend(self, jobs: list[Job]) -> None:
        if jobs:
            await self._run("EXTEND", [self.visibility_ms, *_pairs(jobs)])

    async def release(self, jobs: list[Job]) -> None:
        if jobs:
            await self._run("RELEASE", _pairs(jobs))

    async def stop_claiming(self) -> None:
        """Nothing to do: Redis never pushes jobs ahead of a claim."""

    async def status(self) -> dict[str, int | None]:
        states = ("waiting", "active", "delayed", "failed", "completed")
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for state in states:
                    pipe.zcard(self.key(state))
                pipe.get(self.key("parked"))
                *counts, parked = await pipe.execute()
        except CONNECTION_ERRORS as exc:
            raise QueueUnavailable(f"redis: {exc}") from exc
        result: dict[str, int | None] = dict(zip(states, map(int, counts), strict=True))
        result["waiting"] = int(counts[0]) + int(parked or 0)  # parked: held by a group limit
        return result

    async def failed(self, start: int = 0, count: int = 50) -> list[dict[str, Any]]:
        ids: list[str] = await self.redis.zrevrange(  # type: ignore[assignment]
            self.key("failed"), start, start + count - 1
        )
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hgetall(self.key(f"job:{job_id}"))
            rows: list[dict[str, str]] = await pipe.execute()
        return [_describe(job_id, row) for job_id, row in zip(ids, rows, strict=True) if row]

    async def inspect(self, job_id: str) -> dict[str, Any] | None:
        row: dict[str, str] = await self.redis.hgetall(self.key(f"job:{job_id}"))  # type: ignore[assignment]
        return _describe(job_id, row) if row else None

    async def retry_failed(self, job_id: str) -> bool:
        return bool(await self._run("RETRY_FAILED", [job_id]))

    async def retry_all_failed(self) -> int:
        return int(await self._run("RETRY_FAILED", []))

    async def remove(self, job_id: str) -> bool:
        return bool(await self._run("REMOVE", [job_id]))

    async def purge_completed(self) -> int:
        return int(await self._run("PURGE_COMPLETED", []))

    async def pause(self) -> None:
        await self._run("PAUSE", ["1"])

    async def resume(self) -> None:
        await self._run("PAUSE", ["0"])

    async def is_paused(self) -> bool:
        try:
            return bool(await self.redis.exists(self.key("paused")))
        except CONNECTION_ERRORS as exc:
            raise QueueUnavailable(f"redis: {exc}") from exc

    async def promote(self, job_id: str) -> bool:
        return bool(await self._run("PROMOTE", [job_id]))

    async def delete_everything(self) -> None:
        """Drop every key of this queue (tests and decommissioning)."""
        keys = [k async for k in self.redis.scan_iter(match=self.prefix + "*", count=1000)]
        for chunk in chunked(keys, 1000):
            await self.redis.delete(*chunk)

    async def ping(self) -> None:
        await self.redis.ping()

    async def verify(self) -> None:
        try:
            await redis_safety.check(self.redis, self.name)
        except CONNECTION_ERRORS as exc:
            raise QueueUnavailable(f"redis: {exc}") from exc

    async def close(self) -> None:
        await self.redis.aclose()


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _pairs(jobs: list[Job]) -> list[Any]:
    return [value for job in jobs for value in (job.id, job.receipt)]


def _describe(job_id: str, row: dict[str, str]) -> dict[str, Any]:
    """A job's stored fields as plain JSON-friendly values."""
    times: dict[str, float] = {
        k: int(row[k]) / 1000 for k in ("enqueued_at", "started_at", "finished_at") if k in row
    }
    return {
        "id": job_id,
        "type": row.get("type"),
        "state": row.get("state"),
        "payload": json.loads(row.get("payload") or "null"),
        "priority": int(row.get("priority", 0)),
        "attempts": int(row.get("attempts", 0)),
        "stalls": int(row.get("stalls", 0)),
        "hung": int(row.get("hung", 0)),
        "error": row.get("error"),
        "traceback": row.get("traceback"),
        "history": json.loads(row.get("history") or "[]"),
        **times,
    }
