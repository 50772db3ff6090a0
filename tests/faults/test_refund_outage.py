"""Refunds while the work queue is down, and reversal jobs Redis lost: every refund answers
at once, every reversal happens once the queue is back (the outbox kept the job, or the
reconciler queued it again), and the upline's points end exactly right."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import pytest

from services.checkout_api.app import create_app as create_checkout_app
from services.reward_worker.app import create_app as create_worker_app
from shared.config import Settings
from shared.http.lifecycle import DATABASE
from shared.messaging.destinations import REWARD_JOBS
from shared.storage import ledger
from shared.storage.pool import Database
from tests.faults.report import record
from tests.faults.rewards import wait_all_rewarded
from tests.faults.servers import RedisServer
from tests.integration.checkout.conftest import Api
from tests.support.audit import findings
from tests.support.http import serve
from tests.support.wait import eventually

CHECKOUTS = 6
PRICE = 997  # odd, so shares of points round
DOWN_FOR = 2.0


@pytest.fixture
async def api(own_queues: Settings) -> AsyncIterator[Api]:
    """checkout_api in this process, its reconciler queueing again after 2 s."""
    settings = own_queues.model_copy(
        update={"reward_reconcile_after": 2.0, "reward_reconcile_interval": 0.5}
    )
    app = create_checkout_app(settings)
    async with serve(app) as client:
        await app[DATABASE].wait_ready(timeout=10)
        yield Api(client, settings)


async def refund(api: Api, transaction_id: str, amount: int) -> str:
    headers = {**api.admin, "Idempotency-Key": str(uuid.uuid4())}
    response = await api.client.post(
        f"/transactions/{transaction_id}/refunds", json={"amount": amount}, headers=headers
    )
    body = await api.ok(response, 201)
    return str(body["refund_id"])


async def reversals(db: Database, refunds: list[str]) -> dict[str, datetime | None]:
    """When each refund's reversal was recorded (None while pending)."""
    async with db.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id::text AS id, reversed_at FROM checkout.refunds WHERE id = ANY($1::uuid[])",
            refunds,
        )
    return {row["id"]: row["reversed_at"] for row in rows}


async def all_reversed(db: Database, refunds: list[str]) -> bool:
    done = await reversals(db, refunds)
    return len(done) == len(refunds) and all(done.values())


async def jobs_in_redis(db: Database, refunds: list[str]) -> bool:
    """Every reversal job of these refunds has left the outbox (it is in Redis now)."""
    async with db.acquire() as conn:
        unsent = await conn.fetchval(
            "SELECT count(*) FROM checkout.outbox WHERE sent_at IS NULL AND destination = $2 "
            "AND message_type = 'REFUND_ISSUED' AND body->'data'->>'refund_id' = ANY($1)",
            refunds,
            REWARD_JOBS,
        )
    return unsent == 0


async def expected_points(db: Database, members: list[str]) -> dict[str, int]:
    """What each member keeps: every credit less its refunded share, floor(points *
    refunded / total), which the reversals of a transaction add up to."""
    async with db.acquire() as conn:
        rows = await conn.fetch(
            """SELECT c.credit_owner AS member, c.amount AS points, t.total, t.refunded
               FROM checkout.ledger_transfers c
               JOIN checkout.transactions t ON t.id::text = c.details->>'transaction_id'
               WHERE c.kind = 'reward_credit' AND c.credit_owner = ANY($1::text[])""",
            members,
        )
    kept = dict.fromkeys(members, 0)
    for row in rows:
        kept[row["member"]] += row["points"] - row["points"] * row["refunded"] // row["total"]
    return kept


async def points_of(db: Database, members: list[str]) -> dict[str, int]:
    async with db.acquire() as conn:
        return {m: await ledger.balance(conn, "checkout", ledger.POINTS, m) for m in members}


@pytest.mark.timeout(240)
async def test_reversals_wait_out_the_queue_and_lost_ones_are_queued_again(
    api: Api, redis_server: RedisServer, db: Database
) -> None:
    chain = [await api.customer("root")]
    for i in range(3):
        chain.append(await api.customer(f"member{i}", referrer_id=chain[-1]))
    buyer, upline = chain[-1], chain[:-1]
    await api.top_up(buyer, CHECKOUTS * 5 * PRICE)
    product = await api.product("Lamp", PRICE)
    async with AsyncExitStack() as worker:
        await worker.enter_async_context(serve(create_worker_app(api.settings)))
        paid = []
        for n in range(CHECKOUTS):
            body = {"items": [{"product_id": product, "quantity": n + 1}]}
            paid.append(str((await api.ok(await api.checkout(buyer, body), 201))["transaction_id"]))
        await wait_all_rewarded(db, paid)
        earned = await points_of(db, upline)
        assert all(earned.values()), earned

        # 1. The queue goes down; the worker runs on. A partial refund of every checkout
        #    answers at once, and nothing is reversed until the queue is back.
        await asyncio.to_thread(redis_server.stop)
        totals = [PRICE * (n + 1) for n in range(CHECKOUTS)]
        first = [await refund(api, tx, total // 3) for tx, total in zip(paid, totals, strict=True)]
        await asyncio.sleep(DOWN_FOR)  # the queue stays down a while: nothing may move
        assert not any((await reversals(db, first)).values()), "a reversal ran while down"
        assert await points_of(db, upline) == earned
        await asyncio.to_thread(redis_server.start)
        back_at = datetime.now(UTC)
        await eventually(lambda: all_reversed(db, first), timeout=60, what="first reversals")
        assert all(at is not None and at >= back_at for at in (await reversals(db, first)).values())

    # 2. No worker: the rest of all but the last checkout is refunded and its reversal job
    #    reaches Redis, which is killed and comes back empty. Only the reconciler can bring
    #    those jobs back.
    second = [
        await refund(api, tx, total - total // 3)
        for tx, total in zip(paid[:-1], totals[:-1], strict=True)
    ]
    await eventually(lambda: jobs_in_redis(db, second), timeout=30, what="jobs in Redis")
    await asyncio.to_thread(redis_server.stop)
    await asyncio.to_thread(redis_server.start)
    emptied_at = datetime.now(UTC)
    started = time.monotonic()
    async with serve(create_worker_app(api.settings)):
        await eventually(lambda: all_reversed(db, second), timeout=90, what="lost reversals")
    recovered_in = time.monotonic() - started

    async with db.acquire() as conn:
        requeued = await conn.fetchval(
            "SELECT count(*) FROM checkout.refund_handoffs "
            "WHERE refund_id = ANY($1::uuid[]) AND enqueues > 1 AND enqueued_at > $2",
            second,
            emptied_at,
        )
        notices = await conn.fetchval(
            "SELECT count(*) FROM checkout.outbox WHERE message_type = 'REWARDS_REVERSED' "
            "AND body->'data'->>'refund_id' = ANY($1)",
            first + second,
        )
    final = await points_of(db, upline)
    assert requeued == len(second), "every lost job was queued again once Redis was empty"
    assert final == await expected_points(db, upline), (final, earned)
    assert notices == len(first) + len(second), "one reversal notice per refund"
    assert await findings(api.settings.database_url) == set(), "make audit is clean"
    record(
        "outage-redis-refunds",
        done=(
            f"{CHECKOUTS} checkouts of a buyer with three upline members, rewards paid; the "
            "private Redis (the work queue) is killed while a partial refund of each is "
            "issued, with the worker running, and comes back empty; then, with no worker, "
            "the rest of all but one is refunded, its jobs reach Redis, and Redis is killed "
            "and restarted empty before the worker starts again"
        ),
        checked=(
            "every refund answers 201 at once; no reversal while the queue is down, each one "
            "after it is back; every job Redis lost is queued again by the reconciler "
            f"({requeued}) and reversed once; the upline keeps exactly each credit less its "
            "refunded share (the fully refunded checkouts' points all taken back); make "
            "audit is clean"
        ),
        requests=CHECKOUTS * 2 + len(second),
        faults=2,
        messages=len(first) + len(second),
        lost=len(first) + len(second) - notices,
        doubled=max(0, notices - len(first) - len(second)),
        refunds=len(first) + len(second),
        requeued=int(requeued),
        recovered_seconds=round(recovered_in, 1),
    )
