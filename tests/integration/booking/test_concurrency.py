"""Double booking is impossible, however many users try at the same moment."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import aiohttp

from shared.storage.pool import Database
from tests.integration.booking.api import BookingApi, unique

ATTEMPTS = 200


async def test_two_hundred_concurrent_bookings_of_one_slot_make_exactly_one(
    api: BookingApi, db: Database
) -> None:
    slot = await api.create_slot(unique("provider"))
    users = [unique("user") for _ in range(ATTEMPTS)]
    headers = {user: api.auth(user, "user") for user in users}
    url = api.client.make_url("/bookings")
    connector = aiohttp.TCPConnector(limit=ATTEMPTS)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def attempt(user: str) -> int:
            async with session.post(
                url, json={"slot_id": slot["id"]}, headers=headers[user]
            ) as response:
                await response.read()
                return response.status

        statuses = Counter(await asyncio.gather(*(attempt(user) for user in users)))

    assert statuses == {201: 1, 409: ATTEMPTS - 1}
    async with db.acquire() as conn:
        active = await conn.fetchval(
            "SELECT count(*) FROM booking.bookings "
            "WHERE slot_id = $1 AND status IN ('pending', 'confirmed')",
            uuid.UUID(slot["id"]),
        )
        events = await conn.fetchval(
            "SELECT count(*) FROM booking.events "
            "WHERE type = 'BOOKING_CREATED' AND data->>'slot_id' = $1",
            slot["id"],
        )
    assert (active, events) == (1, 1)


async def test_concurrent_reject_and_cancel_of_one_booking_apply_only_one(
    api: BookingApi,
) -> None:
    provider, user = unique("provider"), unique("user")
    slot = await api.create_slot(provider)
    for _ in range(10):
        booking = await api.booked(user, slot["id"])
        rejected, cancelled = await asyncio.gather(
            api.answer(provider, booking["id"], "reject"), api.cancel(user, booking["id"])
        )
        assert sorted([rejected.status, cancelled.status]) == [200, 409]
        history = await api.get(f"/bookings/{booking['id']}/history", user, "user")
        assert len((await history.json())["entries"]) == 2
