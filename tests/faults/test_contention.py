"""Contention: many clients at once on one slot and on a few wallets; the invariants hold."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import aiohttp
import pytest

from shared.config import Settings
from shared.storage import ledger
from shared.storage.pool import Database
from tests.faults.harness import checkout_in_process
from tests.faults.report import record
from tests.integration.booking.api import BookingApi, running, unique
from tests.integration.checkout.conftest import Api

BOOKERS = 500
PRICE = 1999
# Checkouts each wallet's funds cover; every wallet gets 100 attempts at once.
COVERED = [0, 10, 25, 37, 50, 63, 80, 99, 100, 150]
ATTEMPTS_PER_WALLET = 100
RETRIES_OF_503 = 5  # a 503 with Retry-After (the pool or a lost race) is sent again


@pytest.fixture
async def booking(settings: Settings) -> AsyncIterator[BookingApi]:
    async with running(settings) as api:
        yield api


@pytest.fixture
async def checkout(own_queues: Settings) -> AsyncIterator[Api]:
    async with checkout_in_process(own_queues) as api:
        yield api


@pytest.mark.timeout(300)
async def test_five_hundred_concurrent_bookers_of_one_slot_leave_exactly_one_active_booking(
    booking: BookingApi, db: Database
) -> None:
    provider = unique("provider")
    slot = await booking.create_slot(provider)
    users = [unique("user") for _ in range(BOOKERS)]
    headers = {user: booking.auth(user, "user") for user in users}
    url = booking.client.make_url("/bookings")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=BOOKERS)) as session:

        async def attempt(user: str) -> int:
            async with session.post(
                url,
                json={"slot_id": slot["id"]},
                headers={**headers[user], "Idempotency-Key": str(uuid.uuid4())},
            ) as response:
                await response.read()
                return response.status

        statuses = Counter(await asyncio.gather(*(attempt(user) for user in users)))

    assert statuses == {201: 1, 409: BOOKERS - 1}, statuses
    async with db.acquire() as conn:
        active = await conn.fetch(
            "SELECT id, user_id, status FROM booking.bookings "
            "WHERE slot_id = $1 AND status IN ('pending', 'confirmed')",
            uuid.UUID(slot["id"]),
        )
        created = await conn.fetchval(
            "SELECT count(*) FROM booking.events "
            "WHERE type = 'BOOKING_CREATED' AND data->>'slot_id' = $1",
            slot["id"],
        )
    assert (len(active), created) == (1, 1)
    assert await booking.slot_status(provider, slot["id"]) is None
    record(
        "contention-booking",
        done=f"{BOOKERS} users POST /bookings for one slot at the same moment",
        checked="exactly one 201, the rest 409; one active booking and one BOOKING_CREATED",
        requests=BOOKERS,
        faults=0,
        messages=created,
        lost=0,
        doubled=0,
    )


@pytest.mark.timeout(300)
async def test_a_thousand_concurrent_checkouts_over_ten_wallets_never_overdraw_any(
    checkout: Api, db: Database
) -> None:
    tea = await checkout.product("Tea", PRICE)
    wallets = [await checkout.customer(f"c{i}") for i in range(len(COVERED))]
    for wallet, covered in zip(wallets, COVERED, strict=True):
        # A few cents more than `covered` checkouts: enough for them, never for one more.
        await checkout.top_up(wallet, covered * PRICE + 7)
    body = {"items": [{"product_id": tea, "quantity": 1}]}
    url = checkout.client.make_url("/checkout")
    attempts = [w for w in wallets for _ in range(ATTEMPTS_PER_WALLET)]
    unavailable: Counter[str] = Counter()  # 503s answered, by detail: each one sent again
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:

        async def attempt(wallet: str) -> tuple[str, int, dict[str, object]]:
            headers = {**checkout.as_customer(wallet), "Idempotency-Key": str(uuid.uuid4())}
            for _ in range(RETRIES_OF_503):
                async with session.post(url, json=body, headers=headers) as response:
                    payload = await response.json(content_type=None)
                    if response.status != 503 or "Retry-After" not in response.headers:
                        return wallet, response.status, payload
                # As the contract asks of a client: the same request again, after a while.
                unavailable[str(payload.get("detail"))] += 1
                await asyncio.sleep(min(1.0, float(response.headers["Retry-After"])))
            return wallet, response.status, payload

        results = await asyncio.gather(*(attempt(w) for w in attempts))

    statuses = Counter(status for _, status, _ in results)
    assert set(statuses) <= {201, 402}, (statuses, unavailable)
    paid_transactions: list[str] = []
    async with db.acquire() as conn:
        for wallet, covered in zip(wallets, COVERED, strict=True):
            accepted = [body for w, status, body in results if w == wallet and status == 201]
            expected = min(covered, ATTEMPTS_PER_WALLET)
            assert len(accepted) == expected, (wallet, covered, len(accepted))
            start = covered * PRICE + 7
            # Each accepted checkout saw its own balance, one price lower each time: no
            # balance in between was ever below zero.
            assert sorted(int(b["balance"]) for b in accepted) == sorted(  # type: ignore[call-overload]
                start - n * PRICE for n in range(1, expected + 1)
            )
            balance = (await checkout.wallet(wallet))["balance"]
            assert balance == start - expected * PRICE >= 0
            assert await ledger.entries_sum(conn, "checkout", ledger.WALLET, wallet) == balance
            transactions = await conn.fetchval(
                "SELECT count(*) FROM checkout.transactions WHERE customer_id = $1",
                uuid.UUID(wallet),
            )
            assert transactions == expected
            paid_transactions += [str(b["transaction_id"]) for b in accepted]
        jobs = await conn.fetchval(
            "SELECT count(*) FROM checkout.outbox WHERE attributes->>'jobId' = ANY($1)",
            paid_transactions,
        )
    assert jobs == len(paid_transactions), "one reward job per accepted checkout"
    record(
        "contention-checkout",
        done=(
            f"{len(attempts)} checkouts at once over {len(wallets)} wallets funded for "
            f"{', '.join(map(str, COVERED))} checkouts"
        ),
        checked=(
            "accepted = what each balance allowed; every balance seen >= 0; balance = sum of "
            "its ledger entries; one transaction and one reward job per accepted checkout"
            + (
                f"; {sum(unavailable.values())} answers were 503 with Retry-After and sent "
                f"again ({', '.join(sorted(unavailable))})"
                if unavailable
                else ""
            )
        ),
        requests=len(attempts) + sum(unavailable.values()),
        faults=0,
        messages=jobs,
        lost=0,
        doubled=0,
    )
