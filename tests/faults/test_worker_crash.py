"""The reward worker SIGKILLed twice while it drains a backlog of reward jobs: after restarts
every checkout's rewards are recorded exactly once and no job is left behind."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest

from shared.config import Settings
from shared.storage.pool import Database
from shared.workqueue import open_work_queue
from tests.faults.harness import checkout_in_process, customers_of, kill_at, referral_chain
from tests.faults.processes import ServiceProcess
from tests.faults.report import record
from tests.faults.rewards import count_rewards, wait_all_rewarded
from tests.integration.checkout.conftest import Api
from tests.support.wait import eventually

CHECKOUTS = 1_000
KILL_AT = (250, 600)  # SIGKILL once this many checkouts are rewarded
VISIBILITY = 3.0  # seconds before a job held by a dead worker runs again


@pytest.fixture
async def checkout(own_queues: Settings) -> AsyncIterator[Api]:
    settings = own_queues.model_copy(update={"work_queue_visibility_timeout": VISIBILITY})
    async with checkout_in_process(settings) as api:
        yield api


async def _rewarded(db: Database, ids: list[str]) -> int:
    async with db.acquire() as conn:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM checkout.transactions "
                "WHERE id = ANY($1::uuid[]) AND rewards_status = 'done'",
                ids,
            )
        )


@pytest.mark.timeout(300)
async def test_the_reward_worker_killed_twice_records_every_reward_exactly_once(
    checkout: Api, db: Database
) -> None:
    product = await checkout.product("Sapling", 2_000)
    chain = await referral_chain(customers_of(checkout), 4)
    buyers = chain[1:]
    for buyer in buyers:
        await checkout.top_up(buyer, CHECKOUTS * 2_000)
    url = checkout.client.make_url("/checkout")
    body = {"items": [{"product_id": product, "quantity": 1}]}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50)) as session:

        async def buy(buyer: str) -> str:
            headers = {**checkout.as_customer(buyer), "Idempotency-Key": str(uuid.uuid4())}
            async with session.post(url, json=body, headers=headers) as response:
                payload = await response.json(content_type=None)
                assert response.status == 201, payload
                return str(payload["transaction_id"])

        ids = list(await asyncio.gather(*(buy(buyers[i % len(buyers)]) for i in range(CHECKOUTS))))

    worker = ServiceProcess("reward_worker", checkout.settings)
    try:
        worker.start()
        rewarded_at_kill = await kill_at(
            worker, lambda: _rewarded(db, ids), KILL_AT, what="rewarded"
        )
        await wait_all_rewarded(db, ids)
        async with open_work_queue(checkout.settings) as queue:

            async def nothing_left() -> bool:
                status = await queue.status()
                return not any(status.get(state) for state in ("waiting", "active", "delayed"))

            await eventually(nothing_left, timeout=30, what="work queue drained")
            status = await queue.status()
    finally:
        output = worker.output()
        worker.close()

    assert all(n < CHECKOUTS for n in rewarded_at_kill), "killed mid-stream"
    assert not status.get("failed"), (status, output)
    count = await count_rewards(db, ids, chain)
    assert (count.lost, count.doubled) == (0, 0), count
    record(
        "crash-reward_worker",
        done=(
            f"{CHECKOUTS} checkouts by the members of a 5-level referral chain queue their "
            "reward jobs; reward_worker runs as a process and is SIGKILLed twice (after "
            f"{rewarded_at_kill[0]} and {rewarded_at_kill[1]} rewarded), restarted each time"
        ),
        checked=(
            "every transaction's rewards end `done` with one points entry per upline member and "
            "one REWARDS_DISTRIBUTED notice; points balances = their ledgers; no job waiting, "
            "running, delayed or failed"
        ),
        requests=CHECKOUTS,
        faults=len(KILL_AT),
        messages=count.entries + count.transactions,
        lost=count.lost,
        doubled=count.doubled,
    )
