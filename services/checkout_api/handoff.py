"""Hand-off of reward jobs: the outbox relay into the work queue, and the reconciler.

The checkout transaction writes the reward job to the outbox; the relay moves it to the
work queue when the broker answers (retrying with backoff while it does not). PostgreSQL
stays the source of truth: the reconciler writes the job to the outbox again for every
transaction whose rewards are still pending long after its job was queued (its clock is
kept in `reward_handoffs`, apart from the read models), so a broker
that lost its data loses no reward. The job id (the transaction id) de-duplicates a job
that is still queued, a job that failed for good runs again when it is published again, and
the reward worker's `rewards_status = 'pending'` guard makes a
second run of a finished job a no-op.
"""

from __future__ import annotations

import asyncpg
from aiohttp import web
from prometheus_client import Counter, Gauge

from services.checkout_api.commands import reward_job, reward_job_attributes
from services.checkout_api.refund_handoff import reconcile_refunds_once
from services.checkout_api.typedefs import SCHEMA
from shared.config import Settings
from shared.events.envelope import Trace
from shared.http.lifecycle import DATABASE, run_periodic
from shared.logging import get_logger, new_correlation_id
from shared.messaging import outbox
from shared.messaging.destinations import REWARD_JOBS
from shared.messaging.outbox import Outgoing, unsent_job_ids
from shared.messaging.outbox_app import use_outbox_relay
from shared.storage.pool import Database
from shared.workqueue.publisher import work_queue_publishers

log = get_logger(__name__)

REQUEUED = Counter(
    "checkout_reward_jobs_requeued_total", "Reward jobs queued again by the reconciler"
)
PENDING = Gauge("checkout_rewards_pending", "Transactions whose rewards are not done yet")
OLDEST_PENDING = Gauge(
    "checkout_rewards_oldest_pending_age_seconds", "Age of the oldest transaction still pending"
)


async def reconcile_once(db: Database, after: float, *, batch: int = 500) -> int:
    """Queue again the reward jobs of stale pending transactions; return how many.

    A transaction whose job still sits unsent in the outbox (the broker is down) is not
    queued twice: only its clock is reset, so it is looked at again later.
    """
    async with db.transaction() as conn:
        rows = await conn.fetch(
            f"""SELECT t.id, t.customer_id, t.total, c.tier
                FROM {SCHEMA}.transactions t
                JOIN {SCHEMA}.reward_handoffs h ON h.transaction_id = t.id
                JOIN {SCHEMA}.customers c ON c.id = t.customer_id
                WHERE t.rewards_status = 'pending'
                  AND h.enqueued_at < now() - make_interval(secs => $1)
                ORDER BY h.enqueued_at LIMIT $2
                FOR UPDATE OF t, h SKIP LOCKED""",
            after,
            batch,
        )
        if not rows:
            return 0
        ids = [row["id"] for row in rows]
        in_outbox = await unsent_job_ids(conn, SCHEMA, REWARD_JOBS, [str(i) for i in ids])
        stale = [row for row in rows if str(row["id"]) not in in_outbox]
        await outbox.add_all(conn, SCHEMA, [_job(row) for row in stale])  # one statement
        await conn.execute(
            f"""UPDATE {SCHEMA}.reward_handoffs
                SET enqueued_at = now(),
                    enqueues = enqueues + CASE WHEN transaction_id = ANY($2::uuid[]) THEN 1
                                               ELSE 0 END
                WHERE transaction_id = ANY($1::uuid[])""",
            ids,
            [row["id"] for row in stale],
        )
    REQUEUED.inc(len(stale))
    if stale:
        log.warning("reward jobs queued again", count=len(stale))
    return len(stale)


def _job(row: asyncpg.Record) -> Outgoing:
    """The reward job of a stale transaction, queued again under a trace of its own."""
    trace = Trace(correlation_id=new_correlation_id())
    job = reward_job(row["id"], row["customer_id"], row["total"], row["tier"], trace)
    return Outgoing(REWARD_JOBS, job, attributes=reward_job_attributes(job, row["tier"]))


async def update_gauges(db: Database) -> None:
    async with db.acquire() as conn:
        row = await conn.fetchrow(
            f"""SELECT count(*) AS pending,
                       coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age
                FROM {SCHEMA}.transactions WHERE rewards_status = 'pending'"""
        )
    PENDING.set(row["pending"])
    OLDEST_PENDING.set(float(row["age"]))


async def reconcile_step(db: Database, after: float) -> None:
    """One pass of the reconciler loop: every stale batch (checkouts, then refunds), then
    the gauges."""
    while await reconcile_once(db, after):
        pass  # a full batch may mean more are waiting
    while await reconcile_refunds_once(db, after):
        pass
    await update_gauges(db)


def use_reward_handoff(app: web.Application, settings: Settings) -> None:
    """Run the outbox relay (to the work queue) and the reconciler for the app's life.

    No readiness check on the broker: with it down, checkouts must keep being taken.
    """
    use_outbox_relay(app, SCHEMA, [REWARD_JOBS], work_queue_publishers, name="reward-outbox-relay")
    run_periodic(
        app,
        "reward-reconciler",
        lambda app: reconcile_step(app[DATABASE], settings.reward_reconcile_after),
        interval=settings.reward_reconcile_interval,
    )
