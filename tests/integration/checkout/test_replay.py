"""`make replay` rebuilds every read model of both contexts, row for row.

The workload runs on a database of its own, so every row in it comes from its events (other
tests write rows straight into checkout's tables), and the snapshot is all of it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.checkout_api.app import create_app
from services.reward_worker.commands import distribute, reverse
from services.reward_worker.domain import RewardRules
from services.reward_worker.uow import PostgresUnitOfWork
from shared.config import Settings
from shared.http.lifecycle import DATABASE
from shared.storage.eventstore import read_stream
from shared.storage.pool import Database
from shared.workqueue import create_work_queue
from shared.workqueue.base import admin
from tests.conftest import SERVER_DSN, _with_database, drop_database
from tests.integration.booking.api import running, unique
from tests.integration.booking.test_replay import mixed_workload
from tests.integration.checkout.conftest import Api, checkout_settings
from tests.support.http import serve
from tests.support.wait import eventually

READ_MODELS = {
    "booking": ["slots", "bookings"],
    "checkout": [
        "products",
        "customers",
        "cart_items",
        "transactions",
        "transaction_items",
        "refunds",
        "ledger_accounts",
        "ledger_transfers",
        "ledger_entries",
    ],
}

Snapshot = dict[str, list[tuple[Any, ...]]]


@pytest.fixture
async def private(settings: Settings) -> AsyncIterator[Settings]:
    """Settings on a freshly migrated database of this test's own."""
    from tools import commands

    name = f"test_replay_{uuid.uuid4().hex[:10]}"
    own = checkout_settings(
        settings,
        database_url=_with_database(SERVER_DSN, name),
        booking_pending_ttl=1.0,
        booking_expiry_interval=0.1,
    )
    await commands.migrate_all(own)
    yield own
    await drop_database(name)


async def snapshot(db: Database) -> Snapshot:
    async with db.acquire() as conn:
        return {
            f"{schema}.{table}": [
                tuple(row)
                for row in await conn.fetch(f"SELECT * FROM {schema}.{table} t ORDER BY t::text")
            ]
            for schema, tables in READ_MODELS.items()
            for table in tables
        }


async def checkout_workload(api: Api) -> None:
    """Customers in a referral chain, top-ups, cart changes, checkouts of the cart and of
    items, a refused checkout, two refunds of one checkout, and a cart left with lines in it."""
    tea, mug = await api.product("Tea", 450), await api.product("Mug", 1250)
    root = await api.customer("Root")
    mid = await api.customer("Mid", root)
    buyer = await api.customer("Buyer", mid, tier=2)
    await api.top_up(buyer, 100_000)
    await api.top_up(mid, 30_000)
    await api.add(buyer, tea, 3)
    await api.add(buyer, mug, 1)
    await api.add(buyer, tea, 2)
    me = api.as_customer(buyer)
    await api.ok(await api.client.delete(f"/carts/me/items/{mug}", headers=me))
    await api.ok(await api.checkout(buyer), 201)
    mugs = {"items": [{"product_id": mug, "quantity": 10}]}
    paid = (await api.ok(await api.checkout(buyer, mugs), 201))["transaction_id"]
    for body in ({"amount": 4_001, "reason": "two broke"}, None):
        headers = {**api.admin, "Idempotency-Key": str(uuid.uuid4())}
        refunded = await api.client.post(
            f"/transactions/{paid}/refunds", json=body, headers=headers
        )
        await api.ok(refunded, 201)
    await api.add(buyer, mug, 2)
    await api.ok(await api.checkout(mid, {"items": [{"product_id": tea, "quantity": 40}]}), 201)
    too_much = {"items": [{"product_id": mug, "quantity": 1000}]}
    assert (await api.checkout(mid, too_much)).status == 402


async def run_checkout_workload(private: Settings) -> None:
    """The checkout workload through a checkout_api of its own; its reward jobs are then
    dropped from the work queue, so the test runs the worker's commands itself."""
    app = create_app(private)
    try:
        async with serve(app) as client:
            await app[DATABASE].wait_ready(timeout=10)
            await checkout_workload(Api(client, private))
    finally:
        queue = create_work_queue(private)
        await admin(queue).delete_everything()
        await queue.close()


async def distribute_rewards(db: Database) -> int:
    """Run the reward job of every checkout, then the reversal of every refund, as the worker
    does (one of each twice)."""
    async with db.acquire() as conn:
        streams = await conn.fetch(
            "SELECT stream_id FROM checkout.events WHERE type = 'CHECKOUT_COMPLETED'"
        )
        jobs = [(await read_stream(conn, "checkout", s["stream_id"]))[0] for s in streams]
        refund_jobs = [
            stored.envelope
            for s in await conn.fetch(
                "SELECT DISTINCT stream_id FROM checkout.events WHERE type = 'REFUND_ISSUED'"
            )
            for stored in await read_stream(conn, "checkout", s["stream_id"])
            if stored.envelope.type == "REFUND_ISSUED"
        ]
    assert len(refund_jobs) == 2
    rules = RewardRules()
    for stored in [*jobs, jobs[0]]:
        async with db.transaction() as conn:
            await distribute(PostgresUnitOfWork(conn), rules, stored.envelope)
    for envelope in [*refund_jobs, refund_jobs[0]]:
        async with db.transaction() as conn:
            await reverse(PostgresUnitOfWork(conn), envelope)
    return len(jobs)


async def test_replay_rebuilds_every_read_model_of_both_contexts_equal_to_the_live_rows(
    private: Settings,
) -> None:
    async with running(private) as booking:
        expiring = await mixed_workload(booking)

        async def expired() -> bool:
            response = await booking.get(f"/bookings/{expiring}", "root", "admin")
            return bool((await response.json())["status"] == "expired")

        await eventually(expired, timeout=10, what="a booking expired")
        # One left pending: the service stops before it could expire.
        provider = unique("provider")
        await booking.booked(unique("user"), (await booking.create_slot(provider))["id"])
    await run_checkout_workload(private)

    db = Database(private.database_url, max_size=2)
    await db.start()
    try:
        await db.wait_ready(timeout=10)
        assert await distribute_rewards(db) == 3
        live = await snapshot(db)  # every service has stopped: nothing changes from here
        async with db.acquire() as conn:
            levels = await conn.fetchval("SELECT count(*) FROM checkout.customers WHERE level > 1")
            states = await conn.fetchval("SELECT count(DISTINCT status) FROM booking.bookings")
        assert levels >= 1, "the workload upgrades a level"
        assert states == 5, "bookings in every state"
        assert all(live.values()), [table for table, rows in live.items() if not rows]

        # Damage every context's read models: replay must restore them from the events alone.
        async with db.acquire() as conn:
            await conn.execute("DELETE FROM booking.bookings WHERE status = 'cancelled'")
            await conn.execute("UPDATE checkout.customers SET level = 9")
            await conn.execute("DELETE FROM checkout.cart_items")
            await conn.execute("DELETE FROM checkout.ledger_entries WHERE account_type = 'points'")
            await conn.execute("UPDATE checkout.ledger_accounts SET balance = balance + 1")
            await conn.execute("UPDATE checkout.transactions SET rewards_status = 'pending'")
            await conn.execute("UPDATE checkout.refunds SET reversal_status = 'pending'")
        assert await snapshot(db) != live

        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tools.replay",
            env={**os.environ, "DATABASE_URL": private.database_url, "LOG_LEVEL": "WARNING"},
            stdout=asyncio.subprocess.PIPE,
        )
        output, _ = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0
        assert b"booking read models rebuilt from" in output
        assert b"checkout read models rebuilt from" in output

        rebuilt = await snapshot(db)
        for table, rows in live.items():
            assert rebuilt[table] == rows, table
    finally:
        await db.close()
