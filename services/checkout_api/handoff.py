"""Hand-off of reward jobs: the outbox relay into the work queue, and the reconciler.

The checkout transaction writes the reward job to the outbox; the relay moves it to the
work queue when the broker answers (retrying with backoff while it does not). PostgreSQL
stays the source of truth: the reconciler writes the job to the outbox again for every
transaction whose rewards are still pending long after its job was queued, so a broker
that lost its data loses no reward. The job id (the transaction id) de-duplicates a job
that is still queued, a job that failed for good runs again when it is published again, and
the reward worker's `rewards_status = 'pending'` guard makes a
second run of a finished job a no-op.
"""

from __future__ import annotations

import asyncio
import uuid

from aiohttp import web
from prometheus_client import Counter, Gauge

from services.checkout_api.commands import enqueue_reward_job, reward_job
from services.checkout_api.storage import SCHEMA
from shared.config import Settings
from shared.events.checkout import REWARD_JOBS
from shared.http.lifecycle import DATABASE, run_in_background
from shared.logging import get_logger
from shared.messaging.outbox import OutboxRelay
from shared.storage.pool import Database, backoff_delay
from shared.workqueue import open_work_queue
from shared.workqueue.publisher import WorkQueuePublisher

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
            """SELECT t.id, t.customer_id, t.total, c.tier
               FROM checkout.transactions t JOIN checkout.customers c ON c.id = t.customer_id
               WHERE t.rewards_status = 'pending'
                 AND t.reward_enqueued_at < now() - make_interval(secs => $1)
               ORDER BY t.reward_enqueued_at LIMIT $2
               FOR UPDATE OF t SKIP LOCKED""",
            after,
            batch,
        )
        if not rows:
            return 0
        ids = [row["id"] for row in rows]
        in_outbox = {
            uuid.UUID(job_id)
            for job_id in await conn.fetchval(
                """SELECT coalesce(array_agg(attributes->>'jobId'), '{}')
                   FROM checkout.outbox
                   WHERE sent_at IS NULL AND destination = $1
                     AND attributes->>'jobId' = ANY($2::text[])""",
                REWARD_JOBS,
                [str(i) for i in ids],
            )
        }
        stale = [row for row in rows if row["id"] not in in_outbox]
        for row in stale:
            job = reward_job(row["id"], row["customer_id"], row["total"], row["tier"])
            await enqueue_reward_job(conn, job, row["tier"])
        await conn.execute(
            """UPDATE checkout.transactions
               SET reward_enqueued_at = now(),
                   reward_enqueues = reward_enqueues + CASE WHEN id = ANY($2::uuid[]) THEN 1
                                                            ELSE 0 END
               WHERE id = ANY($1::uuid[])""",
            ids,
            [row["id"] for row in stale],
        )
    REQUEUED.inc(len(stale))
    if stale:
        log.warning("reward jobs queued again", count=len(stale))
    return len(stale)


async def update_gauges(db: Database) -> None:
    async with db.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT count(*) AS pending,
                      coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age
               FROM checkout.transactions WHERE rewards_status = 'pending'"""
        )
    PENDING.set(row["pending"])
    OLDEST_PENDING.set(float(row["age"]))


def use_reward_handoff(app: web.Application, settings: Settings) -> None:
    """Run the outbox relay (to the work queue) and the reconciler for the app's life."""

    async def relay(app: web.Application) -> None:
        async with open_work_queue(settings) as queue:
            relay = OutboxRelay(
                app[DATABASE],
                SCHEMA,
                {REWARD_JOBS: WorkQueuePublisher(queue)},
                poll_interval=settings.outbox_poll_interval,
            )
            try:
                await relay.run()
            finally:
                await relay.close()

    async def reconciler(app: web.Application) -> None:
        await app[DATABASE].wait_ready()
        failures = 0
        while True:
            try:
                while await reconcile_once(app[DATABASE], settings.reward_reconcile_after):
                    pass  # a full batch may mean more are waiting
                await update_gauges(app[DATABASE])
                failures = 0
                delay = settings.reward_reconcile_interval
            except Exception as exc:
                failures += 1
                delay = backoff_delay(failures, cap=settings.reward_reconcile_interval)
                log.warning("reward reconciler error", error=repr(exc), retry_in=round(delay, 2))
            await asyncio.sleep(delay)

    # No readiness check on the broker: with it down, checkouts must keep being taken.
    run_in_background(app, "reward-outbox-relay", relay)
    run_in_background(app, "reward-reconciler", reconciler)
