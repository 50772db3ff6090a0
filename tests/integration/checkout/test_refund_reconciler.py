"""The reconciler re-queues a refund's reversal job that the work queue lost."""

from __future__ import annotations

from services.checkout_api.refund_handoff import reconcile_refunds_once
from shared.messaging.destinations import REWARD_JOBS
from shared.storage.pool import Database
from tests.integration.checkout.conftest import Api
from tests.integration.checkout.test_refunds import paid_checkout, points, refund, run_job


async def unsent_jobs(db: Database, refund_id: str) -> int:
    async with db.acquire() as conn:
        return int(
            await conn.fetchval(
                """SELECT count(*) FROM checkout.outbox WHERE destination = $1
                   AND attributes->>'jobId' = $2 AND sent_at IS NULL""",
                REWARD_JOBS,
                refund_id,
            )
        )


async def age(db: Database, refund_id: str) -> None:
    async with db.acquire() as conn:
        await conn.execute(
            """UPDATE checkout.refund_handoffs SET enqueued_at = now() - interval '1 hour'
               WHERE refund_id = $1::uuid""",
            refund_id,
        )


async def test_a_reversal_the_queue_lost_is_queued_again_and_then_done(
    api: Api, db: Database
) -> None:
    referrer = await api.customer("Referrer")
    buyer = await api.customer("Buyer", referrer)
    product = await api.product("Lamp", 2_000)
    await api.top_up(buyer, 2_000)
    transaction_id = await paid_checkout(api, buyer, product, 1)
    await run_job(db, transaction_id)
    refund_id = (await api.ok(await refund(api, transaction_id), 201))["refund_id"]

    # Still unsent in the outbox (the broker is down): not queued twice, only the clock moves.
    async with db.acquire() as conn:
        await conn.execute(
            """UPDATE checkout.outbox SET available_at = now() + interval '1 day', sent_at = NULL
               WHERE attributes->>'jobId' = $1""",
            refund_id,
        )
    await age(db, refund_id)
    assert await reconcile_refunds_once(db, 60) == 0
    assert await unsent_jobs(db, refund_id) == 1

    # Sent, then lost by the queue: queued again once, and the reversal is done.
    async with db.acquire() as conn:
        await conn.execute(
            "UPDATE checkout.outbox SET sent_at = now() WHERE attributes->>'jobId' = $1", refund_id
        )
    assert await reconcile_refunds_once(db, 60) == 0  # the clock was just reset
    await age(db, refund_id)
    assert await reconcile_refunds_once(db, 60) == 1
    assert await unsent_jobs(db, refund_id) == 1
    await run_job(db, refund_id)
    assert await points(db, referrer) == [0]
    await age(db, refund_id)
    assert await reconcile_refunds_once(db, 60) == 0  # done: nothing to queue
