"""Refund reversals through the real work queue: the checkout app's outbox relay queues the
reward and reversal jobs, a worker running the reward worker's job handlers takes the
points back, once."""

from __future__ import annotations

import asyncio

from services.reward_worker.domain import RewardRules
from services.reward_worker.handlers import job_handlers
from shared.storage.pool import Database
from shared.workqueue import Worker, create_work_queue
from tests.integration.checkout.conftest import Api, api
from tests.integration.checkout.test_refunds import paid_checkout, points, refund
from tests.support.wait import eventually

__all__ = ["api"]  # the checkout tests' app fixture


async def test_the_worker_reverses_a_refund_it_receives_through_the_queue(
    api: Api, db: Database
) -> None:
    referrer = await api.customer("Referrer")
    buyer = await api.customer("Buyer", referrer)
    product = await api.product("Kettle", 4_000)
    await api.top_up(buyer, 4_000)
    queue = create_work_queue(api.settings)
    worker = Worker(queue, job_handlers(db, RewardRules()), concurrency=2)
    task = asyncio.create_task(worker.run())
    try:
        transaction_id = await paid_checkout(api, buyer, product, 1)

        async def balance_is(expected: int) -> bool:
            return await points(db, referrer) == [expected]

        await eventually(lambda: balance_is(400), what="the checkout's rewards")
        await api.ok(await refund(api, transaction_id, {"amount": 1_000}), 201)
        await eventually(lambda: balance_is(300), what="the partial refund's reversal")
        await api.ok(await refund(api, transaction_id), 201)
        await eventually(lambda: balance_is(0), what="the full refund's reversal")
        seen = await api.ok(await api.client.get("/transactions", headers=api.as_customer(buyer)))
        assert seen["items"][0]["refund"] == "full"
        assert seen["items"][0]["reversals_pending"] == 0
    finally:
        await worker.stop()
        await asyncio.wait_for(task, 15)
        await queue.close()
