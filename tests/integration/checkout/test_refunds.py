"""Refunds against PostgreSQL: money back to the wallet at most once in total, and the tree
points the checkout paid taken back by the reward worker's reversal, to the point."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiohttp import ClientResponse

from services.reward_worker.commands import RewardsNotPaidYet, distribute, reverse
from services.reward_worker.domain import RewardRules
from services.reward_worker.uow import PostgresUnitOfWork
from shared.events.envelope import Envelope
from shared.messaging.destinations import REWARD_JOBS
from shared.storage import ledger
from shared.storage.pool import Database
from tests.integration.checkout.conftest import Api

RULES = RewardRules(thresholds=(100, 1_000, 5_000))


async def run_job(db: Database, job_id: str) -> None:
    """Run the reward job of this id from the outbox, as the worker would."""
    async with db.transaction() as conn:
        body = await conn.fetchval(
            """SELECT body FROM checkout.outbox
               WHERE destination = $1 AND attributes->>'jobId' = $2""",
            REWARD_JOBS,
            job_id,
        )
        envelope = Envelope.model_validate_json(body)
        if envelope.type == "CHECKOUT_COMPLETED":
            await distribute(PostgresUnitOfWork(conn), RULES, envelope)
        else:
            await reverse(PostgresUnitOfWork(conn), envelope)


async def points(db: Database, *members: str) -> list[int]:
    async with db.acquire() as conn:
        return [await ledger.balance(conn, "checkout", ledger.POINTS, m) for m in members]


async def level(api: Api, member: str) -> int:
    body = await api.ok(await api.client.get(f"/customers/{member}", headers=api.admin))
    return int(body["level"])


async def paid_checkout(api: Api, buyer: str, product: str, quantity: int) -> str:
    body = await api.ok(
        await api.checkout(buyer, {"items": [{"product_id": product, "quantity": quantity}]}), 201
    )
    return str(body["transaction_id"])


def refund(api: Api, transaction_id: str, body: Any = None) -> Any:
    headers = {**api.admin, "Idempotency-Key": str(uuid.uuid4())}
    return api.client.post(f"/transactions/{transaction_id}/refunds", json=body, headers=headers)


async def test_a_partial_then_a_full_refund_put_the_upline_points_back_to_the_point(
    api: Api, db: Database
) -> None:
    root = await api.customer("Root")
    mid = await api.customer("Mid", root)
    buyer = await api.customer("Buyer", mid)
    product = await api.product("Odd lamp", 2_999)
    await api.top_up(buyer, 20_000)
    first = await paid_checkout(api, buyer, product, 1)
    await run_job(db, first)
    before = await points(db, mid, root)
    assert before == [299, 149] and await level(api, mid) == 2

    second = await paid_checkout(api, buyer, product, 3)  # 8,997 cents, both at level 2 (110%)
    await run_job(db, second)
    assert await points(db, mid, root) == [299 + 989, 149 + 494]
    assert await level(api, mid) == 3  # 1,288 points reach the second threshold

    partial: ClientResponse = await refund(api, second, {"amount": 1_001, "reason": "dented"})
    out = await api.ok(partial, 201)
    assert (out["amount"], out["refunded"], out["reversal"]) == (1_001, 1_001, "pending")
    await run_job(db, out["refund_id"])
    await run_job(db, out["refund_id"])  # a job run twice reverses once
    # floor(989 * 1,001 / 8,997) and floor(494 * 1,001 / 8,997)
    assert await points(db, mid, root) == [299 + 989 - 110, 149 + 494 - 54]

    rest = await api.ok(await refund(api, second), 201)
    assert (rest["amount"], rest["refunded"]) == (7_996, 8_997)
    await run_job(db, rest["refund_id"])
    assert await points(db, mid, root) == before
    assert (await api.wallet(buyer))["balance"] == 20_000 - 2_999
    seen = await api.ok(await api.client.get(f"/transactions/{second}", headers=api.admin))
    assert seen["refunded"] == 8_997

    # Levels never go down: Mid keeps level 3 below its threshold, and at 0 points too.
    assert await level(api, mid) == 3
    await run_job(db, (await api.ok(await refund(api, first), 201))["refund_id"])
    assert await points(db, mid, root) == [0, 0] and await level(api, mid) == 3
    assert (await refund(api, first)).status == 409


async def test_fifty_concurrent_refunds_never_pay_back_more_than_the_checkout_cost(
    api: Api, db: Database
) -> None:
    referrer = await api.customer("Referrer")
    buyer = await api.customer("Buyer", referrer)
    product = await api.product("Chair", 5_000)
    await api.top_up(buyer, 5_000)
    transaction_id = await paid_checkout(api, buyer, product, 1)
    await run_job(db, transaction_id)
    assert await points(db, referrer) == [500]

    responses = await asyncio.gather(
        *(refund(api, transaction_id, {"amount": 150}) for _ in range(50))
    )
    statuses = [r.status for r in responses]
    accepted = [await r.json() for r in responses if r.status == 201]
    assert set(statuses) <= {201, 409}, statuses
    assert len(accepted) == 33  # 33 x 150 = 4,950; one more would exceed 5,000
    assert sorted(a["refunded"] for a in accepted) == [150 * n for n in range(1, 34)]
    assert (await api.wallet(buyer))["balance"] == 4_950

    await asyncio.gather(*(run_job(db, a["refund_id"]) for a in accepted))
    # 500 points less the share of 4,950 of 5,000, rounded so the sum never overshoots.
    assert await points(db, referrer) == [500 - 500 * 4_950 // 5_000]
    last = await api.ok(await refund(api, transaction_id), 201)
    assert last["amount"] == 50
    await run_job(db, last["refund_id"])
    assert await points(db, referrer) == [0]


async def test_a_reversal_waits_for_the_rewards_it_takes_back(api: Api, db: Database) -> None:
    referrer = await api.customer("Referrer")
    buyer = await api.customer("Buyer", referrer)
    product = await api.product("Desk", 4_000)
    await api.top_up(buyer, 4_000)
    transaction_id = await paid_checkout(api, buyer, product, 1)
    out = await api.ok(await refund(api, transaction_id, {"amount": 1_000}), 201)
    assert (await api.wallet(buyer))["balance"] == 1_000

    with pytest.raises(RewardsNotPaidYet):  # the job fails, and is retried later
        await run_job(db, out["refund_id"])
    await run_job(db, transaction_id)
    await run_job(db, out["refund_id"])
    assert await points(db, referrer) == [400 - 100]
