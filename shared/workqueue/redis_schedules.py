"""Schedules of the Redis backend: definitions in a hash, next ticks in a sorted set.

Firing a tick is one script (redis_control.FIRE_SCHEDULE) that moves the schedule's next
tick on only if it is still the tick the worker read, and enqueues the tick's job in the
same step: across any number of workers each tick enqueues once.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.workqueue.base import QueueUnavailable
from shared.workqueue.schedules import Schedule

CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class RedisSchedules:
    redis: aioredis.Redis
    aging_ms: int

    def key(self, suffix: str) -> str:
        raise NotImplementedError

    async def _run(self, script: str, args: list[Any]) -> Any:
        raise NotImplementedError

    async def add_schedule(self, schedule: Schedule) -> None:
        first = schedule.next_after_ms(int(time.time() * 1000))
        await self._run("ADD_SCHEDULE", [schedule.id, dumps(schedule.to_dict()), first])

    async def remove_schedule(self, schedule_id: str) -> bool:
        return bool(await self._run("REMOVE_SCHEDULE", [schedule_id]))

    async def schedules(self) -> list[dict[str, Any]]:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(self.key("schedules"))
                pipe.zrange(self.key("schedules:next"), 0, -1, withscores=True)
                definitions, ticks = await pipe.execute()
        except CONNECTION_ERRORS as exc:
            raise QueueUnavailable(f"redis: {exc}") from exc
        next_at = {sid: score / 1000 for sid, score in ticks}
        return [
            {**json.loads(definitions[sid]), "next_at": next_at.get(sid)}
            for sid in sorted(definitions)
        ]

    async def fire_schedules(self) -> tuple[int, float | None]:
        out = json.loads(await self._run("DUE_SCHEDULES", []))
        now, first = int(out[0]), int(float(out[1]))
        fired = 0
        for sid, tick, definition in out[2:]:
            if not definition:  # a tick without a definition: removed halfway
                await self._run("REMOVE_SCHEDULE", [sid])
                continue
            schedule = Schedule.from_dict(json.loads(definition))
            tick_ms = int(float(tick))
            args = [sid, tick_ms, schedule.next_after_ms(max(now, tick_ms))]
            job = [schedule.job_id(tick_ms), schedule.job_type, dumps(schedule.payload)]
            rank = [schedule.priority, self.aging_ms]
            fired += int(await self._run("FIRE_SCHEDULE", [*args, *job, *rank]))
        if out[2:]:
            return fired, 0.0  # ask again at once: the next tick may be due already
        return fired, None if first < 0 else max(0.0, (first - now) / 1000)
