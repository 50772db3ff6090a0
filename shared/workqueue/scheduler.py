"""The worker's schedule loop: fires due ticks of the queue's schedules, on every worker.

Every worker runs it; the backend lets one of them claim each tick, so adding workers adds
no runs. It sleeps until the next tick (at most IDLE_POLL, so a schedule added elsewhere is
seen within that), and like every background loop it logs, counts and retries an error.
"""

from __future__ import annotations

import asyncio
import contextlib

from shared.logging import get_logger
from shared.retry import backoff_delay
from shared.workqueue import metrics
from shared.workqueue.base import QueueUnavailable, WorkQueue

log = get_logger(__name__)

IDLE_POLL = 2.0  # seconds between looks at the schedules while none is due sooner


async def run_schedules(queue: WorkQueue, stopping: asyncio.Event) -> None:
    """Fire due ticks until `stopping` is set."""
    failures = 0
    while not stopping.is_set():
        try:
            fired, wait = await queue.fire_schedules()
            failures = 0
        except Exception as exc:  # the loop outlives any broker trouble
            failures += 1
            metrics.WORKER_RECONNECTS.labels(queue.name).inc()
            wait = backoff_delay(failures, base=0.1, cap=5.0)
            if isinstance(exc, QueueUnavailable):
                log.warning("schedules unavailable, retrying", error=str(exc))
            else:
                log.exception("firing schedules failed, retrying", retry_in=wait)
        else:
            if fired:
                metrics.JOBS_SCHEDULED.labels(queue.name).inc(fired)
        pause = IDLE_POLL if wait is None else min(IDLE_POLL, wait)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), max(0.001, pause))
