"""What a reward job changes is recorded as events first: one job run by two workers at
once credits once, and its events on the checkout's stream say what it credited."""

from __future__ import annotations

import asyncio

from services.reward_worker.handlers import reward_handler
from shared.storage.eventstore import read_stream
from shared.storage.pool import Database
from tests.integration.rewards.conftest import create_chain, create_transactions, reward_job
from tests.integration.rewards.test_distribution import RULES, job_for, points


async def test_one_job_run_by_two_workers_at_once_credits_once(db: Database) -> None:
    async with db.transaction() as conn:
        chain = await create_chain(conn, 3)
        (tx,) = await create_transactions(conn, [(chain.buyer, 10_000)])
    handle = reward_handler(db, RULES)
    payload = reward_job(tx, chain.buyer, 10_000)

    await asyncio.gather(*(handle(job_for(payload)) for _ in range(2)))

    assert [await points(db, m) for m in chain.upline(chain.buyer)] == [1000, 500]
    async with db.acquire() as conn:
        stored = await read_stream(conn, "checkout", f"transaction-{tx}")
        referrer = await read_stream(conn, "checkout", f"customer-{chain.upline(chain.buyer)[0]}")
    assert [e.envelope.type for e in stored] == ["POINTS_CREDITED", "REWARDS_DISTRIBUTED"]
    entries = stored[0].envelope.data["entries"]
    assert [(e["depth"], e["points"]) for e in entries] == [(1, 1000), (2, 500)]
    assert [e.envelope.type for e in referrer] == ["LEVEL_UPGRADED"]
