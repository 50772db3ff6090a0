"""A reward job names a checkout; who is credited and for how much comes from its row."""

from __future__ import annotations

from services.reward_worker.domain import RewardRules
from services.reward_worker.handlers import reward_handler
from shared.storage.pool import Database
from tests.integration.rewards.conftest import create_chain, create_transactions, reward_job
from tests.integration.rewards.test_distribution import events_about, job_for, points

RULES = RewardRules(percentages=(10, 5), thresholds=(1_000_000,), rates=(100, 100))


async def test_a_job_with_a_forged_buyer_and_total_credits_the_real_checkouts_upline(
    db: Database,
) -> None:
    async with db.transaction() as conn:
        real = await create_chain(conn, 3, prefix="real")
        forger = await create_chain(conn, 2, prefix="forger")
        (tx,) = await create_transactions(conn, [(real.buyer, 1_000)])

    # The payload claims another buyer (whose referrer would be credited) and a total 1,000
    # times the one paid.
    await reward_handler(db, RULES)(job_for(reward_job(tx, forger.buyer, 1_000_000)))

    assert await points(db, forger.members[0]) == 0
    assert [await points(db, m) for m in real.upline(real.buyer)] == [100, 50]
    (distributed,) = [
        e["body"]
        for e in await events_about(db, str(tx))
        if e["message_type"] == "REWARDS_DISTRIBUTED"
    ]
    assert distributed["data"]["buyer_id"] == str(real.buyer)
    assert distributed["data"]["total"] == 1_000
