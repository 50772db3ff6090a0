"""RabbitMQ (the reward work queue's amqp backend) killed and restarted under a checkout
workload: checkouts keep succeeding, and every checkout's rewards are recorded exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from services.reward_worker.app import create_app as create_worker_app
from shared.config import Settings
from shared.storage.pool import Database
from tests.faults.harness import checkout_in_process, customers_of, referral_chain
from tests.faults.report import record
from tests.faults.rewards import count_rewards, wait_all_rewarded
from tests.faults.servers import RabbitServer
from tests.faults.test_redis_outage import BUYERS, PRICE, Shoppers
from tests.integration.checkout.conftest import Api
from tests.support.http import serve
from tests.support.wait import eventually

DOWN_FOR = 3.0


@pytest.fixture
async def stack(own_queues: Settings, rabbit_server: RabbitServer) -> AsyncIterator[Api]:
    """checkout_api and reward_worker in this process, the work queue on the private node;
    the reconciler as a safety net after 5 s."""
    settings = own_queues.model_copy(
        update={
            "work_queue_backend": "amqp",
            "amqp_url": rabbit_server.url,
            "reward_reconcile_after": 5.0,
            "reward_reconcile_interval": 1.0,
        }
    )
    async with checkout_in_process(settings) as api, serve(create_worker_app(settings)):
        yield api


@pytest.mark.timeout(300)
async def test_rabbitmq_killed_and_restarted_mid_workload_loses_and_doubles_no_reward(
    stack: Api, rabbit_server: RabbitServer, db: Database
) -> None:
    api = stack
    product = await api.product("Seedling", PRICE)
    chain = await referral_chain(customers_of(api), 3)
    buyers = chain[1:]
    for buyer in buyers:
        await api.top_up(buyer, 1_000_000 * PRICE)  # more than any run can spend, however fast
    shoppers = Shoppers(api, product, [buyers[i % len(buyers)] for i in range(BUYERS)])
    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(shoppers.shop(session, b)) for b in shoppers.buyers]
        await eventually(lambda: _paid(shoppers, 60), timeout=60, what="60 checkouts")

        shoppers.down = True
        await asyncio.to_thread(rabbit_server.kill)
        before = len(shoppers.paid)
        await eventually(lambda: _paid(shoppers, before + 20), timeout=30, what="paid while down")
        await asyncio.sleep(DOWN_FOR)  # the broker stays down a while longer, checkouts go on
        await asyncio.to_thread(rabbit_server.start)
        shoppers.down = False
        after = len(shoppers.paid)
        await eventually(lambda: _paid(shoppers, after + 60), timeout=60, what="checkouts after")
        shoppers.stopping = True
        await asyncio.gather(*tasks)

    ids = shoppers.paid
    await wait_all_rewarded(db, ids)
    count = await count_rewards(db, ids, chain)
    assert (count.lost, count.doubled) == (0, 0), count
    assert shoppers.paid_while_down >= 20, "checkouts went on while the broker was down"
    record(
        "outage-rabbitmq",
        done=(
            f"{BUYERS} buyers in a referral chain check out continuously with the work queue on "
            "a private RabbitMQ node; the node is SIGKILLed, stays down while checkouts go on, "
            "and is started again on its data folder; the reward worker runs throughout"
        ),
        checked=(
            "every checkout answers 201, also while RabbitMQ is down "
            f"({shoppers.paid_while_down} of them); every transaction's rewards end `done` with "
            "one points entry per upline member and one REWARDS_DISTRIBUTED notice "
            f"({count.reconciled} queued again by the reconciler)"
        ),
        requests=sum(shoppers.statuses.values()),
        faults=1,
        messages=count.entries + count.transactions,
        lost=count.lost,
        doubled=count.doubled,
        reconciled=count.reconciled,
    )


async def _paid(shoppers: Shoppers, count: int) -> bool:
    return len(shoppers.paid) >= count
