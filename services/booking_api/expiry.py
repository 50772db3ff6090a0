"""Background sweep: pending bookings the provider left unanswered expire and free their slot."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import Counter

from services.booking_api import commands, storage
from services.booking_api.domain import Status
from shared.http.app import SETTINGS
from shared.http.lifecycle import DATABASE
from shared.logging import bound_context, get_logger, new_correlation_id
from shared.storage.pool import Database, backoff_delay

log = get_logger(__name__)

SYSTEM_ACTOR = "system:expiry"
BATCH = 100

EXPIRED = Counter("booking_expired_total", "Pending bookings expired by the sweep")
SWEEP_FAILURES = Counter("booking_expiry_failures_total", "Expiry sweeps that failed")


async def expire_due(db: Database, *, batch: int = BATCH) -> int:
    """Expire one batch of overdue pending bookings in one transaction; return how many.

    Rows are locked with SKIP LOCKED, so several replicas sweep without doing a row twice.
    """
    with bound_context(correlation_id=new_correlation_id()):
        async with db.transaction() as conn:
            due = await storage.lock_expired(conn, batch)
            for booking_id in due:
                await commands.change_status(conn, booking_id, Status.EXPIRED, SYSTEM_ACTOR)
    EXPIRED.inc(len(due))
    return len(due)


async def run(app: web.Application) -> None:
    """Sweep every `booking_expiry_interval` seconds, at once again while a backlog remains."""
    interval = app[SETTINGS].booking_expiry_interval
    await app[DATABASE].wait_ready()
    failures = 0
    while True:
        try:
            expired = await expire_due(app[DATABASE])
            failures = 0
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            SWEEP_FAILURES.inc()
            delay = backoff_delay(failures, cap=max(interval, 1.0) * 10)
            log.warning("booking expiry sweep failed", error=repr(exc), retry_in=round(delay, 2))
            await asyncio.sleep(delay)
            continue
        if expired < BATCH:
            await asyncio.sleep(interval)
