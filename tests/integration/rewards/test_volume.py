"""10,000 reward jobs through real worker processes, two of them killed with SIGKILL."""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from services.reward_worker.domain import RewardRules
from shared.config import Settings
from shared.storage.pool import Database
from shared.workqueue import NewJob, WorkQueue, create_work_queue
from shared.workqueue.base import admin
from tests.integration.rewards.conftest import (
    create_chain,
    create_transactions,
    mark_notices_sent,
    reward_job,
)
from tests.integration.rewards.workers import WorkerProcess
from tests.support.wait import eventually

JOBS = 10_000
# Every level earns the plain rate here, so the expected totals do not depend on the order
# in which concurrent jobs run (level rates have their own deterministic test).
FLAT = RewardRules(rates=(100, 100, 100, 100))


@pytest.fixture(params=["redis", "amqp"])
async def volume_queue(
    request: pytest.FixtureRequest, settings: Settings
) -> AsyncIterator[tuple[Settings, WorkQueue]]:
    queue_settings = settings.model_copy(
        update={
            "work_queue_backend": request.param,
            "work_queue_name": f"volume-{uuid.uuid4().hex[:12]}",
            # Nothing listens here: reward notices wait in the outbox, which is not under test.
            "sqs_endpoint_url": "http://127.0.0.1:9",
        }
    )
    queue = create_work_queue(queue_settings)
    yield queue_settings, queue
    await admin(queue).delete_everything()
    await queue.close()


# The deadlines are for a loaded two-core machine: the point is exactly once, not speed
# (`make bench` measures that). The amqp backend registers and forgets every job id.
@pytest.mark.timeout(480)
async def test_ten_thousand_rewards_are_recorded_exactly_once_despite_two_sigkills(
    db: Database, volume_queue: tuple[Settings, WorkQueue]
) -> None:
    queue_settings, queue = volume_queue
    rng = random.Random(6)
    async with db.transaction() as conn:
        chains = [await create_chain(conn, 7, prefix=f"c{i}-") for i in range(300)]
        buyers = [m for chain in chains for m in chain.members[1:]]
        purchases = [(rng.choice(buyers), rng.randint(100, 50_000)) for _ in range(JOBS)]
        ids = await create_transactions(conn, purchases)
    upline_of = {m: chain.upline(m) for chain in chains for m in chain.members}
    expected: Counter[uuid.UUID] = Counter()
    expected_credits = 0
    for buyer, total in purchases:
        for depth, member in enumerate(upline_of[buyer][: FLAT.max_depth], start=1):
            points = FLAT.points(total, depth, level=1)
            if points:
                expected[member] += points
                expected_credits += 1
    members = [m for chain in chains for m in chain.members]

    started = time.monotonic()
    await queue.enqueue_many(
        [
            NewJob("CHECKOUT_COMPLETED", reward_job(tx, buyer, total), job_id=str(tx))
            for tx, (buyer, total) in zip(ids, purchases, strict=True)
        ]
    )
    env = {
        "WORK_QUEUE_VISIBILITY_TIMEOUT": "2",
        "WORK_QUEUE_CONCURRENCY": "32",
        "DATABASE_POOL_MAX": "16",
        "REWARD_LEVEL_RATES": "[100,100,100,100]",
        "OUTBOX_POLL_INTERVAL": "5",
    }

    async def done() -> int:
        async with db.acquire() as conn:
            return int(
                await conn.fetchval(
                    """SELECT count(*) FROM checkout.transactions
                       WHERE customer_id = ANY($1::uuid[]) AND rewards_status = 'done'""",
                    members,
                )
            )

    async def at_least(n: int) -> bool:
        return await done() >= n

    workers = []
    try:
        for kill_at in (JOBS // 4, JOBS // 2):
            worker = WorkerProcess(queue_settings, **env).start()
            workers.append(worker)
            await eventually(lambda n=kill_at: at_least(n), timeout=120, what=f"{kill_at} rewards")
            worker.kill()
        last = WorkerProcess(queue_settings, **env).start()
        workers.append(last)
        await eventually(lambda: at_least(JOBS), timeout=180, what="every reward")
        elapsed = time.monotonic() - started
        assert last.stop() == 0, last.output()
    finally:
        for worker in workers:
            worker.close()

    async with db.acquire() as conn:
        balances = {
            uuid.UUID(row["owner_id"]): row["balance"]
            for row in await conn.fetch(
                """SELECT owner_id, balance FROM checkout.ledger_accounts
                   WHERE account_type = 'points' AND owner_id = ANY($1::text[])""",
                [str(m) for m in members],
            )
        }
        credits = await conn.fetchval(
            """SELECT count(*) FROM checkout.ledger_transfers
               WHERE kind = 'reward_credit' AND credit_owner = ANY($1::text[])""",
            [str(m) for m in members],
        )
        notices = await conn.fetchval(
            """SELECT count(*) FROM checkout.outbox WHERE message_type = 'REWARDS_DISTRIBUTED'
               AND (body->'data'->>'transaction_id')::uuid = ANY($1::uuid[])""",
            ids,
        )
        await mark_notices_sent(conn, members)
    assert await done() == JOBS
    assert credits == expected_credits
    assert balances == dict(expected)
    assert notices == JOBS  # one notice per checkout: killed attempts left nothing behind
    print(f"{queue_settings.work_queue_backend}: {JOBS} rewards in {elapsed:.1f} s")
