"""checkout_api (with its reward-job relay) SIGKILLed twice under a checkout workload, with
reward_worker running: clients retrying with their Idempotency-Key are charged exactly once
per order, and every order's rewards are recorded exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
import pytest

from shared.config import Settings
from shared.http.auth import mint_token
from shared.storage import ledger
from shared.storage.pool import Database
from tests.faults.harness import customers_via, kill_at, referral_chain
from tests.faults.processes import ServiceProcess, checkout_admin
from tests.faults.report import record
from tests.faults.rewards import count_rewards, wait_all_rewarded
from tests.support.http import bearer

BUYERS = 6
ORDERS = 600
PRICE = 500
KILL_AT = (100, 300)  # SIGKILL checkout_api once this many orders are answered 201


@dataclass
class Orders:
    url: str
    secret: str
    product: str
    left: int = ORDERS
    paid: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> transaction id
    statuses: Counter[int | str] = field(default_factory=Counter)

    async def run(self, session: aiohttp.ClientSession, buyer: str) -> None:
        headers = bearer(mint_token(self.secret, buyer, "customer"))
        body = {"items": [{"product_id": self.product, "quantity": 1}]}
        while self.left > 0:
            self.left -= 1
            key = str(uuid.uuid4())
            # Same key until an answer: an order committed just before the kill is replayed.
            while True:
                try:
                    async with session.post(
                        f"{self.url}/checkout",
                        json=body,
                        headers={**headers, "Idempotency-Key": key},
                    ) as response:
                        payload = await response.json(content_type=None)
                        self.statuses[response.status] += 1
                except aiohttp.ClientError:
                    self.statuses["no answer"] += 1
                    await asyncio.sleep(0.1)
                    continue
                if response.status == 201:
                    self.paid[key] = str(payload["transaction_id"])
                    break
                assert response.status in (409, 503), (response.status, payload)
                await asyncio.sleep(0.1)


@pytest.mark.timeout(300)
async def test_checkout_api_killed_twice_mid_workload_charges_and_rewards_each_order_once(
    own_queues: Settings, db: Database
) -> None:
    api = ServiceProcess("checkout_api", own_queues)
    worker = ServiceProcess("reward_worker", own_queues)
    try:
        api.start()
        worker.start()
        await api.ready()
        async with aiohttp.ClientSession() as session:
            admin = checkout_admin(session, api)
            product = (await admin("/products", {"name": "Tea", "price": PRICE}))["id"]
            chain = await referral_chain(customers_via(admin), BUYERS)
            buyers = chain[1:]
            funds = ORDERS * PRICE
            for buyer in buyers:
                await admin("/wallet/top-ups", {"customer_id": buyer, "amount": funds})
            orders = Orders(api.url, own_queues.jwt_secret, product)
            tasks = [asyncio.create_task(orders.run(session, b)) for b in buyers]

            async def paid() -> int:
                return len(orders.paid)

            paid_at_kill = await kill_at(api, paid, KILL_AT, what="orders", interval=0.05)
            await asyncio.gather(*tasks)
        ids = list(orders.paid.values())
        await wait_all_rewarded(db, ids)
    finally:
        output = api.output()
        api.close()
        worker.close()

    assert len(ids) == ORDERS == len(set(ids)), output
    async with db.acquire() as conn:
        transactions = await conn.fetchval(
            "SELECT count(*) FROM checkout.transactions WHERE customer_id = ANY($1::uuid[])",
            buyers,
        )
        debits = await conn.fetchval(
            "SELECT count(*) FROM checkout.ledger_transfers "
            "WHERE debit_owner = ANY($1::text[]) AND kind = 'checkout_debit'",
            buyers,
        )
        balances = [await ledger.balance(conn, "checkout", ledger.WALLET, b) for b in buyers]
        sums = [await ledger.entries_sum(conn, "checkout", ledger.WALLET, b) for b in buyers]
    assert transactions == debits == ORDERS, "one transaction and one debit per order"
    assert balances == sums
    assert sum(funds - b for b in balances) == ORDERS * PRICE, "each order charged once"
    count = await count_rewards(db, ids, chain)
    assert (count.lost, count.doubled) == (0, 0), count
    record(
        "crash-checkout_api",
        done=(
            f"{BUYERS} buyers of a referral chain place {ORDERS} orders through checkout_api "
            "running as a process (its reward-job relay inside), SIGKILLed twice (after "
            f"{paid_at_kill[0]} and {paid_at_kill[1]} orders) and restarted; reward_worker "
            "runs throughout as a process"
        ),
        checked=(
            "clients retry with their Idempotency-Key: one transaction and one debit per order, "
            "balances = their ledgers and lower by exactly the orders' total; every order's "
            "rewards recorded once"
        ),
        requests=sum(orders.statuses.values()),
        faults=len(KILL_AT),
        messages=ORDERS + count.entries + count.transactions,
        lost=count.lost,
        doubled=count.doubled,
        unanswered=orders.statuses["no answer"],
    )
