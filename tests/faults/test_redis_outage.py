"""Redis killed and restarted empty under a checkout workload: checkouts keep succeeding and
no checkout's reward is lost (the reconciler queues again what the broker forgot)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import aiohttp
import pytest

from services.reward_worker.app import create_app as create_worker_app
from shared.config import Settings
from shared.storage.pool import Database
from tests.faults.harness import checkout_in_process, customers_of, referral_chain
from tests.faults.report import record
from tests.faults.rewards import count_rewards, wait_all_rewarded
from tests.faults.servers import RedisServer
from tests.integration.checkout.conftest import Api
from tests.support.http import serve
from tests.support.wait import eventually

BUYERS = 4
PRICE = 1_000
DOWN_FOR = 2.0


@dataclass
class Shoppers:
    """Buyers checking out one item after another until told to stop."""

    api: Api
    product: str
    buyers: list[str]
    paid: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    paid_while_down = 0
    down = False
    stopping = False

    async def shop(self, session: aiohttp.ClientSession, buyer: str) -> None:
        url = self.api.client.make_url("/checkout")
        body = {"items": [{"product_id": self.product, "quantity": 1}]}
        while not self.stopping:
            headers = {**self.api.as_customer(buyer), "Idempotency-Key": str(uuid.uuid4())}
            async with session.post(url, json=body, headers=headers) as response:
                self.statuses[response.status] += 1
                payload = await response.json(content_type=None)
            assert response.status == 201, payload
            self.paid.append(str(payload["transaction_id"]))
            self.paid_while_down += self.down


@pytest.fixture
async def stack(own_queues: Settings) -> AsyncIterator[tuple[Api, AsyncExitStack]]:
    """checkout_api (reconciling after 2 s) in this process, and a stack to start
    reward_worker on later."""
    settings = own_queues.model_copy(
        update={"reward_reconcile_after": 2.0, "reward_reconcile_interval": 0.5}
    )
    async with AsyncExitStack() as stack:
        yield await stack.enter_async_context(checkout_in_process(settings)), stack


@pytest.mark.timeout(300)
async def test_redis_restarted_empty_mid_workload_loses_no_reward(
    stack: tuple[Api, AsyncExitStack], redis_server: RedisServer, db: Database
) -> None:
    api, later = stack
    product = await api.product("Seedling", PRICE)
    chain = await referral_chain(customers_of(api), 3)
    buyers = chain[1:]  # uplines of 1, 2 and 3 members
    for buyer in buyers:
        await api.top_up(buyer, 1_000_000 * PRICE)  # more than any run can spend, however fast
    shoppers = Shoppers(api, product, [buyers[i % len(buyers)] for i in range(BUYERS)])
    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(shoppers.shop(session, b)) for b in shoppers.buyers]
        await eventually(lambda: _paid(shoppers, 60), timeout=60, what="60 checkouts")
        # No worker runs yet, so every job relayed so far waits in Redis: all of them are
        # lost with it, and only the reconciler can bring them back.
        await eventually(lambda: _relayed(db, shoppers.paid[:60]), what="jobs in Redis")

        shoppers.down = True
        await asyncio.to_thread(redis_server.stop)
        before = len(shoppers.paid)
        await eventually(lambda: _paid(shoppers, before + 20), timeout=30, what="paid while down")
        await asyncio.sleep(DOWN_FOR)  # the broker stays down a while longer, checkouts go on
        await asyncio.to_thread(redis_server.start)
        shoppers.down = False
        await later.enter_async_context(serve(create_worker_app(api.settings)))
        after = len(shoppers.paid)
        await eventually(lambda: _paid(shoppers, after + 60), timeout=60, what="checkouts after")
        shoppers.stopping = True
        await asyncio.gather(*tasks)

    ids = shoppers.paid
    await wait_all_rewarded(db, ids)
    count = await count_rewards(db, ids, chain)
    assert (count.lost, count.doubled) == (0, 0), count
    assert shoppers.paid_while_down >= 20, "checkouts went on while the broker was down"
    assert count.reconciled >= 60, "the jobs Redis lost were queued again by the reconciler"
    record(
        "outage-redis",
        done=(
            f"{BUYERS} buyers in a referral chain check out continuously; the private Redis "
            "(the reward work queue) is killed, stays down while checkouts go on, and comes "
            "back empty; the reward worker starts only then, so every job Redis held is lost"
        ),
        checked=(
            "every checkout answers 201, also while Redis is down "
            f"({shoppers.paid_while_down} of them); every transaction's rewards end `done` with "
            "one points entry per upline member and one REWARDS_DISTRIBUTED notice; "
            f"{count.reconciled} were queued again by the reconciler"
        ),
        requests=sum(shoppers.statuses.values()),
        faults=1,
        messages=count.entries + count.transactions,
        lost=count.lost,
        doubled=count.doubled,
        checkouts=len(ids),
        reconciled=count.reconciled,
    )


async def _paid(shoppers: Shoppers, count: int) -> bool:
    return len(shoppers.paid) >= count


async def _relayed(db: Database, ids: list[str]) -> bool:
    async with db.acquire() as conn:
        unsent = await conn.fetchval(
            "SELECT count(*) FROM checkout.outbox "
            "WHERE sent_at IS NULL AND attributes->>'jobId' = ANY($1::text[])",
            ids,
        )
    return unsent == 0
