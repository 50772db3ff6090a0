"""Is this Redis fit to hold a work queue? Checked by the worker at start.

An eviction policy other than `noeviction` lets Redis drop job keys when memory runs out:
jobs vanish without an error, and a hash may go while its id stays in a list. That is
refused outright. A Redis that persists nothing (neither AOF nor RDB snapshots) loses every
queued job on a restart; the reconciler re-enqueues what PostgreSQL still owes, so it is a
loud warning and a gauge, not a refusal. docs/work-queue.md says more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import Gauge

from shared.errors import RefusedToStart
from shared.logging import get_logger

log = get_logger(__name__)

PERSISTENT = Gauge(
    "workqueue_redis_persistent",
    "1 when the work queue's Redis persists its data (AOF or RDB snapshots), 0 when not",
    ["queue"],
)
EVICTION_SAFE = Gauge(
    "workqueue_redis_noeviction", "1 when the work queue's Redis never evicts keys", ["queue"]
)


class UnsafeRedis(RefusedToStart):
    """The Redis the work queue talks to may drop jobs on its own."""


@dataclass(frozen=True)
class RedisSafety:
    eviction_policy: str
    aof: bool
    rdb: bool | None  # None: the server does not let us read its `save` setting

    @property
    def persistent(self) -> bool:
        return self.aof or bool(self.rdb)


async def inspect(redis: Any) -> RedisSafety:
    """Read the eviction policy and persistence of a Redis (INFO; CONFIG GET where allowed,
    since managed services often rename or forbid CONFIG)."""
    memory = await redis.info("memory")
    persistence = await redis.info("persistence")
    try:
        save = (await redis.config_get("save")).get("save")
    except Exception:  # CONFIG disabled: persistence by snapshots is unknown
        save = None
    return RedisSafety(
        eviction_policy=str(memory.get("maxmemory_policy", "unknown")),
        aof=bool(int(persistence.get("aof_enabled", 0))),
        rdb=None if save is None else bool(str(save).strip()),
    )


async def check(redis: Any, queue: str) -> RedisSafety:
    """Refuse a Redis that evicts keys; warn, loudly, about one that persists nothing."""
    safety = await inspect(redis)
    EVICTION_SAFE.labels(queue).set(int(safety.eviction_policy == "noeviction"))
    PERSISTENT.labels(queue).set(int(safety.persistent))
    if safety.eviction_policy != "noeviction":
        raise UnsafeRedis(
            f"the work queue's Redis has maxmemory-policy {safety.eviction_policy}: it may "
            "evict queued jobs; set maxmemory-policy noeviction (see docs/work-queue.md)"
        )
    if not safety.persistent:
        log.warning(
            "the work queue's Redis persists nothing (appendonly no, no save points): a "
            "restart loses every queued job until the reconciler queues them again; "
            "production Redis needs appendonly yes",
            queue=queue,
            rdb="unknown" if safety.rdb is None else safety.rdb,
        )
    return safety
