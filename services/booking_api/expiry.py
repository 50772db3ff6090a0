"""Background sweep: pending bookings the provider left unanswered expire and free their slot."""

from __future__ import annotations

from prometheus_client import Counter

from services.booking_api import commands
from services.booking_api.uow import PostgresUnitOfWork
from shared.events.envelope import Trace
from shared.logging import bound_context, new_correlation_id
from shared.storage.pool import Database

SYSTEM_ACTOR = "system:expiry"
BATCH = 100

EXPIRED = Counter("booking_expired_total", "Pending bookings expired by the sweep")


async def expire_due(db: Database, *, batch: int = BATCH) -> int:
    """Expire one batch of overdue pending bookings in one transaction; return how many.

    Rows are locked with SKIP LOCKED, so several replicas sweep without doing a row twice.
    """
    trace = Trace(correlation_id=new_correlation_id())
    with bound_context(correlation_id=trace.correlation_id):
        async with db.transaction() as conn:
            expired = await commands.expire_due(
                PostgresUnitOfWork(conn), SYSTEM_ACTOR, trace, batch=batch
            )
    EXPIRED.inc(expired)
    return expired


async def expire_step(db: Database) -> bool:
    """One sweep of the background loop; True while a backlog remains."""
    return await expire_due(db) >= BATCH
