"""Queue counts as Prometheus gauges, refreshed in the background of a process."""

from __future__ import annotations

import asyncio

from shared.logging import get_logger
from shared.workqueue.base import WorkQueue
from shared.workqueue.metrics import JOBS_BY_STATE

log = get_logger(__name__)


async def track_queue_gauges(queue: WorkQueue, interval: float = 5.0) -> None:
    """Publish `workqueue_jobs{state=...}` every `interval` seconds until cancelled."""
    while True:
        try:
            counts = await queue.status()
        except Exception as exc:  # a metrics loop must never die (readiness would fail)
            log.warning("queue status unavailable", error=repr(exc))
        else:
            for state, count in counts.items():
                if count is not None:
                    JOBS_BY_STATE.labels(queue.name, state).set(count)
        await asyncio.sleep(interval)
