"""Queue counts as Prometheus gauges, refreshed by a background loop of a process."""

from __future__ import annotations

from shared.workqueue.base import WorkQueue
from shared.workqueue.metrics import JOBS_BY_STATE

GAUGE_INTERVAL = 5.0  # seconds between refreshes


async def update_queue_gauges(queue: WorkQueue) -> None:
    """Publish `workqueue_jobs{state=...}` once (a failure is the background runtime's to
    log, count and retry)."""
    counts = await queue.status()
    for state, count in counts.items():
        if count is not None:
            JOBS_BY_STATE.labels(queue.name, state).set(count)
