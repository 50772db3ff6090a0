"""Background sweep: pending bookings the provider left unanswered expire and free their slot."""

from __future__ import annotations

from prometheus_client import Counter

from services.booking_api import commands, storage
from services.booking_api.domain import Status
from shared.logging import bound_context, get_logger, new_correlation_id
from shared.storage.pool import Database

log = get_logger(__name__)

SYSTEM_ACTOR = "system:expiry"
BATCH = 100

EXPIRED = Counter("booking_expired_total", "Pending bookings expired by the sweep")


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


async def expire_step(db: Database) -> bool:
    """One sweep of the background loop; True while a backlog remains."""
    return await expire_due(db) >= BATCH
