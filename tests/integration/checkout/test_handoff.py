"""The reward job hand-off: checkouts never wait for the broker, and no job is ever lost."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from services.checkout_api.app import create_app
from services.checkout_api.handoff import reconcile_once
from services.reward_worker.commands import distribute
from services.reward_worker.domain import RewardRules
from services.reward_worker.uow import PostgresUnitOfWork
from shared.config import Settings
from shared.http.lifecycle import DATABASE
from shared.storage.eventstore import read_stream
from shared.storage.pool import Database
from shared.workqueue import WorkQueue, open_work_queue
from shared.workqueue.base import admin
from tests.integration.checkout.conftest import Api, checkout_settings
from tests.support.http import serve
from tests.support.proxy import TcpProxy
from tests.support.wait import eventually


@asynccontextmanager
async def running(
    settings: Settings, real_redis_url: str | None = None
) -> AsyncIterator[tuple[Api, WorkQueue]]:
    """checkout_api with these settings, and a client of its work queue on the real broker."""
    app = create_app(settings)
    direct = settings.model_copy(update={"redis_url": real_redis_url or settings.redis_url})
    async with open_work_queue(direct) as queue, serve(app) as client:
        await app[DATABASE].wait_ready(timeout=10)
        try:
            yield Api(client, settings), queue
        finally:
            await admin(queue).delete_everything()


async def _buy(api: Api, count: int, price: int = 500) -> list[str]:
    """`count` concurrent paid checkouts of one customer; their transaction ids."""
    tea = await api.product("Tea", price)
    ada = await api.customer("Ada", tier=2)
    await api.top_up(ada, count * price)
    body = {"items": [{"product_id": tea, "quantity": 1}]}
    responses = await asyncio.gather(*(api.checkout(ada, body) for _ in range(count)))
    paid = [await api.ok(r, 201) for r in responses]
    assert {p["rewards"] for p in paid} == {"pending"}
    return [p["transaction_id"] for p in paid]


async def _queued(queue: WorkQueue, ids: list[str]) -> list[dict[str, Any] | None]:
    return list(await asyncio.gather(*(queue.inspect(i) for i in ids)))


async def test_with_the_broker_down_a_hundred_checkouts_succeed_and_their_jobs_follow(
    settings: Settings, db: Database
) -> None:
    proxy = await TcpProxy("127.0.0.1", urlsplit(settings.redis_url).port or 6379).start()
    await proxy.down()
    real = urlsplit(settings.redis_url)
    via_proxy = urlunsplit(real._replace(netloc=f"{real.hostname}:{proxy.port}"))
    test_settings = checkout_settings(settings, redis_url=via_proxy)
    try:
        async with running(test_settings, settings.redis_url) as (api, queue):
            ids = await _buy(api, 100)

            async with db.acquire() as conn:
                unsent = await conn.fetchval(
                    "SELECT count(*) FROM checkout.outbox "
                    "WHERE sent_at IS NULL AND attributes->>'jobId' = ANY($1)",
                    ids,
                )
            assert unsent == 100, "the jobs wait in the outbox while the broker is down"
            assert await _queued(queue, ids) == [None] * 100

            await proxy.up()

            async def all_delivered() -> bool:
                return None not in await _queued(queue, ids)

            await eventually(all_delivered, timeout=60, interval=0.2, what="100 jobs queued")
            jobs = await _queued(queue, ids)
            assert {job["type"] for job in jobs if job} == {"CHECKOUT_COMPLETED"}
            assert {job["priority"] for job in jobs if job} == {2}
            status = await queue.status()
            assert (status["waiting"] or 0) >= 100
    finally:
        await proxy.close()


async def test_a_broker_that_lost_its_jobs_gets_them_back_from_the_reconciler(
    settings: Settings, db: Database
) -> None:
    test_settings = checkout_settings(
        settings, reward_reconcile_after=0.3, reward_reconcile_interval=0.1
    )
    async with running(test_settings) as (api, queue):
        done, pending = await _buy(api, 2)
        await eventually(
            lambda: _all_queued(queue, [done, pending]), timeout=20, what="jobs queued"
        )
        # The reward worker finished one; then the broker loses everything it held.
        async with db.transaction() as conn:
            (job, *_) = await read_stream(conn, "checkout", f"transaction-{done}")
            await distribute(PostgresUnitOfWork(conn), RewardRules(), job.envelope)
        await eventually(lambda: _outbox_drained(db, [done, pending]), what="outbox drained")
        await admin(queue).delete_everything()

        await eventually(lambda: _all_queued(queue, [pending]), timeout=20, what="job back")
        # Only the reconciler writes a job to the outbox again once it has been relayed.
        assert await _enqueues(db, pending) >= 2
        assert await queue.inspect(done) is None, "a finished transaction is not queued again"
        transaction = await api.ok(await api.client.get(f"/transactions/{done}", headers=api.admin))
        assert transaction["rewards"] == "done"


async def _all_queued(queue: WorkQueue, ids: list[str]) -> bool:
    return None not in await _queued(queue, ids)


async def _outbox_drained(db: Database, ids: list[str]) -> bool:
    async with db.acquire() as conn:
        return not await conn.fetchval(
            "SELECT count(*) FROM checkout.outbox "
            "WHERE sent_at IS NULL AND attributes->>'jobId' = ANY($1)",
            ids,
        )


async def _enqueues(db: Database, transaction_id: str) -> int:
    async with db.acquire() as conn:
        return int(
            await conn.fetchval(
                "SELECT enqueues FROM checkout.reward_handoffs WHERE transaction_id = $1",
                uuid.UUID(transaction_id),
            )
        )


async def test_the_reconciler_does_not_duplicate_a_job_still_waiting_in_the_outbox(
    api: Api, db: Database
) -> None:
    (transaction_id,) = await _buy(api, 1)
    tid = uuid.UUID(transaction_id)

    async def rows() -> int:
        async with db.acquire() as conn:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM checkout.outbox WHERE attributes->>'jobId' = $1",
                    transaction_id,
                )
            )

    async with db.acquire() as conn:
        # The job has not left the outbox yet (broker down), and the transaction is stale.
        await conn.execute(
            "UPDATE checkout.outbox SET sent_at = NULL, available_at = now() + interval '1 hour'"
            " WHERE attributes->>'jobId' = $1",
            transaction_id,
        )
        await conn.execute(
            "UPDATE checkout.reward_handoffs SET enqueued_at = now() - interval '1 hour'"
            " WHERE transaction_id = $1",
            tid,
        )
    await reconcile_once(db, after=60)
    assert await rows() == 1

    async with db.acquire() as conn:
        await conn.execute(
            "UPDATE checkout.outbox SET sent_at = now() WHERE attributes->>'jobId' = $1",
            transaction_id,
        )
        await conn.execute(
            "UPDATE checkout.reward_handoffs SET enqueued_at = now() - interval '1 hour'"
            " WHERE transaction_id = $1",
            tid,
        )
    await reconcile_once(db, after=60)
    assert await rows() == 2
    async with db.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT enqueues FROM checkout.reward_handoffs WHERE transaction_id = $1", tid
            )
            == 2
        )


async def test_with_rabbitmq_down_checkouts_succeed_and_their_jobs_follow(
    settings: Settings, db: Database
) -> None:
    real = urlsplit(settings.amqp_url)
    proxy = await TcpProxy(real.hostname or "127.0.0.1", real.port or 5672).start()
    await proxy.down()
    netloc = real.netloc.rsplit(":", 1)[0] if real.port else real.netloc
    via_proxy = urlunsplit(real._replace(netloc=f"{netloc}:{proxy.port}"))
    test_settings = checkout_settings(settings, work_queue_backend="amqp", amqp_url=via_proxy)
    direct = test_settings.model_copy(update={"amqp_url": settings.amqp_url})
    app = create_app(test_settings)
    try:
        async with serve(app) as client, open_work_queue(direct) as queue:
            await app[DATABASE].wait_ready(timeout=10)
            ids = await _buy(Api(client, test_settings), 50)
            assert not await _outbox_drained(db, ids), "the jobs wait while the broker is down"
            await proxy.up()
            await eventually(lambda: _outbox_drained(db, ids), timeout=60, what="jobs relayed")
            status = await queue.status()
            assert (status["waiting"] or 0) >= 50
            await admin(queue).delete_everything()
    finally:
        await proxy.close()
