"""One reward job against the real checkout tables: credits, levels, events, idempotency."""

from __future__ import annotations

import json
import uuid
from typing import Any

from services.reward_worker.domain import RewardRules
from services.reward_worker.handlers import reward_handler
from shared.storage import ledger
from shared.storage.pool import Database
from shared.workqueue import Job
from tests.integration.rewards.conftest import create_chain, create_transactions, reward_job

RULES = RewardRules(
    percentages=(10, 5, 3, 2, 1), thresholds=(1_000, 5_000, 20_000), rates=(100, 110, 125, 150)
)


def job_for(payload: dict[str, object]) -> Job:
    return Job(
        id=uuid.uuid4().hex,
        type="CHECKOUT_COMPLETED",
        payload=payload,
        priority=0,
        attempt=1,
        enqueued_at=0.0,
    )


async def points(db: Database, member: uuid.UUID) -> int:
    async with db.acquire() as conn:
        return await ledger.balance(conn, "checkout", ledger.POINTS, str(member))


async def events_about(db: Database, transaction_or_member: str) -> list[dict[str, Any]]:
    """The outbox rows about a transaction or a member, with their bodies parsed."""
    async with db.acquire() as conn:
        rows = await conn.fetch(
            """SELECT destination, message_type, body FROM checkout.outbox
               WHERE body->>'subject' = $1 OR body->'data'->>'transaction_id' = $1
               ORDER BY id""",
            transaction_or_member,
        )
    return [{**dict(row), "body": json.loads(row["body"])} for row in rows]


async def test_a_checkout_credits_each_upline_member_its_rounded_down_share(db: Database) -> None:
    async with db.transaction() as conn:
        chain = await create_chain(conn, 7)  # the buyer has six members above: depth 6 earns none
        (tx,) = await create_transactions(conn, [(chain.buyer, 12_345)])
    handle = reward_handler(db, RULES)

    await handle(job_for(reward_job(tx, chain.buyer, 12_345)))

    upline = chain.upline(chain.buyer)
    assert [await points(db, m) for m in upline] == [1234, 617, 370, 246, 123, 0]
    assert await points(db, chain.buyer) == 0
    async with db.acquire() as conn:
        status = await conn.fetchval(
            "SELECT rewards_status FROM checkout.transactions WHERE id = $1", tx
        )
    assert status == "done"
    distributed = [
        e for e in await events_about(db, str(tx)) if e["message_type"] == "REWARDS_DISTRIBUTED"
    ]
    assert len(distributed) == 1
    assert distributed[0]["destination"] == "booking-confirmation"
    credits = distributed[0]["body"]["data"]["credits"]
    assert [(c["customer_id"], c["points"]) for c in credits] == [
        (str(m), p) for m, p in zip(upline, [1234, 617, 370, 246, 123], strict=False)
    ]


async def test_a_reward_job_run_twice_credits_once(db: Database) -> None:
    async with db.transaction() as conn:
        chain = await create_chain(conn, 3)
        (tx,) = await create_transactions(conn, [(chain.buyer, 5_000)])
    handle = reward_handler(db, RULES)
    payload = reward_job(tx, chain.buyer, 5_000)

    await handle(job_for(payload))
    await handle(job_for(payload))

    assert [await points(db, m) for m in chain.upline(chain.buyer)] == [500, 250]
    types = [e["message_type"] for e in await events_about(db, str(tx))]
    assert types.count("REWARDS_DISTRIBUTED") == 1


async def test_crossing_a_threshold_upgrades_the_level_and_raises_the_next_rewards(
    db: Database,
) -> None:
    async with db.transaction() as conn:
        chain = await create_chain(conn, 2)
        first, second = await create_transactions(
            conn, [(chain.buyer, 10_000), (chain.buyer, 10_000)]
        )
    referrer = chain.members[0]
    handle = reward_handler(db, RULES)

    await handle(job_for(reward_job(first, chain.buyer, 10_000)))  # 1000 points: level 2
    async with db.acquire() as conn:
        level = await conn.fetchval("SELECT level FROM checkout.customers WHERE id = $1", referrer)
    assert level == 2
    upgrades = [
        e["body"]["data"]
        for e in await events_about(db, str(referrer))
        if e["message_type"] == "LEVEL_UPGRADED"
    ]
    assert upgrades == [
        {"customer_id": str(referrer), "old_level": 1, "new_level": 2, "total_points": 1000}
    ]

    await handle(job_for(reward_job(second, chain.buyer, 10_000)))  # at level 2: rate 110 %
    assert await points(db, referrer) == 1000 + 1100
