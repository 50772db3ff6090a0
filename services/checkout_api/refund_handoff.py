"""The reconciler of refunds: a refund whose reversal is still pending long after its job
was queued gets its job written to the outbox again (a broker that lost it loses no
reversal). Its clock is `refund_handoffs`; the job is rebuilt from the recorded
REFUND_ISSUED event, and the worker's `reversal_status = 'pending'` guard makes a second
run a no-op. Called from the checkout reconciler's step (handoff.py).
"""

from __future__ import annotations

from prometheus_client import Counter

from services.checkout_api.refunds import enqueue_reversal
from services.checkout_api.typedefs import SCHEMA, SOURCE
from services.checkout_api.uow import PostgresUnitOfWork
from shared.events.checkout import RefundIssued
from shared.events.envelope import Trace, make_envelope
from shared.logging import get_logger, new_correlation_id
from shared.messaging.destinations import REWARD_JOBS
from shared.messaging.outbox import unsent_job_ids
from shared.storage.pool import Database

log = get_logger(__name__)

REQUEUED = Counter(
    "checkout_reversal_jobs_requeued_total", "Refund reversal jobs queued again by the reconciler"
)


async def reconcile_refunds_once(db: Database, after: float, *, batch: int = 500) -> int:
    """Queue again the reversal jobs of stale pending refunds; return how many.

    A refund whose job still sits unsent in the outbox is not queued twice: only its clock
    is reset.
    """
    async with db.transaction() as conn:
        rows = await conn.fetch(
            f"""SELECT r.id, e.data
                FROM {SCHEMA}.refunds r
                JOIN {SCHEMA}.refund_handoffs h ON h.refund_id = r.id
                JOIN {SCHEMA}.events e
                  ON e.type = 'REFUND_ISSUED' AND e.data->>'refund_id' = r.id::text
                WHERE r.reversal_status = 'pending'
                  AND h.enqueued_at < now() - make_interval(secs => $1)
                ORDER BY h.enqueued_at LIMIT $2
                FOR UPDATE OF r, h SKIP LOCKED""",
            after,
            batch,
        )
        if not rows:
            return 0
        ids = [str(row["id"]) for row in rows]
        in_outbox = await unsent_job_ids(conn, SCHEMA, REWARD_JOBS, ids)
        stale = [row for row in rows if str(row["id"]) not in in_outbox]
        for row in stale:
            payload = RefundIssued.model_validate_json(row["data"])
            trace = Trace(correlation_id=new_correlation_id())
            job = make_envelope(
                payload, source=SOURCE, subject=str(payload.customer_id), trace=trace
            )
            await enqueue_reversal(PostgresUnitOfWork(conn), job)
        await conn.execute(
            f"""UPDATE {SCHEMA}.refund_handoffs
                SET enqueued_at = now(),
                    enqueues = enqueues + CASE WHEN refund_id::text = ANY($2::text[]) THEN 1
                                               ELSE 0 END
                WHERE refund_id::text = ANY($1::text[])""",
            ids,
            [str(row["id"]) for row in stale],
        )
    REQUEUED.inc(len(stale))
    if stale:
        log.warning("reversal jobs queued again", count=len(stale))
    return len(stale)
