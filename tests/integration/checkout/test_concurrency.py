"""Money under concurrency: no overdraft, no double debit, the balance equals its ledger;
stream versions are never read first and written later."""

from __future__ import annotations

import asyncio
import uuid

from shared.events.checkout import CartItemRemoved
from shared.events.envelope import Envelope, make_envelope
from shared.storage import eventstore, ledger
from shared.storage.pool import Database
from tests.integration.checkout.conftest import Api
from tests.support.wait import eventually

PRICE = 1999


async def test_a_hundred_concurrent_checkouts_against_a_wallet_covering_37_let_exactly_37_pass(
    api: Api, db: Database
) -> None:
    tea = await api.product("Tea", PRICE)
    ada = await api.customer()
    await api.top_up(ada, 37 * PRICE + 5)
    body = {"items": [{"product_id": tea, "quantity": 1}]}

    responses = await asyncio.gather(*(api.checkout(ada, body) for _ in range(100)))

    statuses = sorted(r.status for r in responses)
    assert statuses == [201] * 37 + [402] * 63
    paid = [await r.json() for r in responses if r.status == 201]
    # Each success saw its own balance: 36 * PRICE + 5 down to 5, never below zero.
    assert sorted(p["balance"] for p in paid) == [n * PRICE + 5 for n in range(37)]
    assert (await api.wallet(ada))["balance"] == 5
    async with db.acquire() as conn:
        assert await ledger.entries_sum(conn, "checkout", ledger.WALLET, ada) == 5
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM checkout.transactions WHERE customer_id = $1",
                uuid.UUID(ada),
            )
            == 37
        )
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM checkout.outbox WHERE attributes->>'jobId' = ANY($1)",
                [p["transaction_id"] for p in paid],
            )
            == 37
        )


async def test_one_idempotency_key_sent_fifty_times_at_once_debits_once(
    api: Api, db: Database
) -> None:
    tea = await api.product("Tea", PRICE)
    ada = await api.customer()
    await api.top_up(ada, 10 * PRICE)
    await api.add(ada, tea, 2)
    key = str(uuid.uuid4())

    responses = await asyncio.gather(*(api.checkout(ada, key=key) for _ in range(50)))

    # A duplicate is told to retry (409) while the first runs, or replays its response after.
    assert {r.status for r in responses} <= {201, 409}
    assert all(r.headers["Retry-After"] for r in responses if r.status == 409)
    bodies = {await r.text() for r in responses if r.status == 201}
    assert len(bodies) == 1, "every replay is the first response"
    replay = await api.checkout(ada, key=key)
    assert (replay.status, await replay.text()) == (201, bodies.pop())
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert (await api.wallet(ada))["balance"] == 8 * PRICE
    async with db.acquire() as conn:
        debits = await conn.fetchval(
            "SELECT count(*) FROM checkout.ledger_transfers "
            "WHERE debit_owner = $1 AND kind = 'checkout_debit'",
            ada,
        )
        assert debits == 1


async def test_the_same_key_with_another_body_is_refused(api: Api) -> None:
    tea = await api.product("Tea", 100)
    ada = await api.customer()
    await api.top_up(ada, 1000)
    key = str(uuid.uuid4())
    first = await api.checkout(ada, {"items": [{"product_id": tea, "quantity": 1}]}, key=key)
    assert first.status == 201
    other = await api.checkout(ada, {"items": [{"product_id": tea, "quantity": 2}]}, key=key)
    assert other.status == 422
    assert (await api.wallet(ada))["balance"] == 900


async def test_concurrent_checkouts_of_one_cart_charge_it_once(api: Api) -> None:
    tea = await api.product("Tea", 700)
    ada = await api.customer()
    await api.top_up(ada, 7000)
    await api.add(ada, tea, 3)

    responses = await asyncio.gather(*(api.checkout(ada) for _ in range(20)))

    assert sorted(r.status for r in responses) == [201] + [409] * 19
    assert (await api.wallet(ada))["balance"] == 7000 - 2100


async def test_concurrent_top_ups_and_checkouts_keep_the_balance_equal_to_its_ledger(
    api: Api, db: Database
) -> None:
    tea = await api.product("Tea", 300)
    ada = await api.customer()
    body = {"items": [{"product_id": tea, "quantity": 1}]}

    results = await asyncio.gather(
        *(api.top_up(ada, 200) for _ in range(30)),
        *(api.checkout(ada, body) for _ in range(30)),
    )

    paid = sum(1 for r in results[30:] if r.status == 201)  # type: ignore[union-attr]
    balance = (await api.wallet(ada))["balance"]
    assert balance == 30 * 200 - paid * 300
    async with db.acquire() as conn:
        assert await ledger.entries_sum(conn, "checkout", ledger.WALLET, ada) == balance
        versions = await conn.fetch(
            "SELECT version FROM checkout.events WHERE stream_id = $1 ORDER BY version",
            f"wallet-{ada}",
        )
        assert [v["version"] for v in versions] == list(range(1, 31 + paid))


def _event(stream: str) -> Envelope:
    payload = CartItemRemoved(customer_id=uuid.uuid4(), product_id=uuid.uuid4())
    return make_envelope(payload, source="tests", subject=stream)


async def _lock_waiters(db: Database) -> int:
    async with db.acquire() as conn:
        return int(
            await conn.fetchval(
                """SELECT count(*) FROM pg_stat_activity
                   WHERE datname = current_database() AND wait_event_type = 'Lock'"""
            )
        )


async def test_a_writer_that_computed_a_taken_stream_version_appends_after_the_winner(
    db: Database,
) -> None:
    stream = f"test-{uuid.uuid4()}"
    async with db.transaction() as first:
        assert await eventstore.append_next(first, "checkout", stream, [_event(stream)]) == 1

        async def second() -> int:
            async with db.transaction() as conn:
                return await eventstore.append_next(conn, "checkout", stream, [_event(stream)])

        # It computes version 1 too, and waits on the unique key until the first commits.
        late = asyncio.create_task(second())
        await eventually(lambda: _lock_waiters(db), what="the second writer waits")
    assert await late == 2
    async with db.acquire() as conn:
        stored = await eventstore.read_stream(conn, "checkout", stream)
    assert [e.version for e in stored] == [1, 2]


async def test_fifty_unlocked_writers_of_one_stream_all_land_with_consecutive_versions(
    db: Database,
) -> None:
    stream = f"test-{uuid.uuid4()}"

    async def write() -> int:
        async with db.transaction() as conn:
            events = [_event(stream), _event(stream)]
            return await eventstore.append_next(conn, "checkout", stream, events)

    versions = await asyncio.gather(*(write() for _ in range(50)))

    assert sorted(versions) == list(range(2, 101, 2))
    async with db.acquire() as conn:
        stored = await eventstore.read_stream(conn, "checkout", stream)
    assert [e.version for e in stored] == list(range(1, 101))
    assert len({e.envelope.id for e in stored}) == 100
