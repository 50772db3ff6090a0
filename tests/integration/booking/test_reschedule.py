"""Moving a booking to another slot, a provider's cancel, and a user's own bookings."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import aiohttp

from shared.storage.pool import Database
from tests.integration.booking.api import BookingApi, unique

MOVERS = 100


async def reschedule(api: BookingApi, user: str, booking_id: str, slot_id: str) -> Any:
    return await api.client.post(
        f"/bookings/{booking_id}/reschedule",
        json={"slot_id": slot_id},
        headers=api.auth(user, "user"),
    )


async def test_a_hundred_concurrent_moves_onto_one_slot_make_exactly_one(
    api: BookingApi, db: Database
) -> None:
    provider = unique("provider")
    slots = [await api.create_slot(provider) for _ in range(MOVERS + 1)]
    target = slots.pop()
    users = [unique("user") for _ in range(MOVERS)]
    bookings = [await api.booked(user, slot["id"]) for user, slot in zip(users, slots, strict=True)]
    url = api.client.make_url
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=MOVERS)) as session:

        async def attempt(user: str, booking: dict[str, Any]) -> int:
            async with session.post(
                url(f"/bookings/{booking['id']}/reschedule"),
                json={"slot_id": target["id"]},
                headers=api.auth(user, "user"),
            ) as response:
                await response.read()
                return response.status

        statuses = await asyncio.gather(*map(attempt, users, bookings))
    assert Counter(statuses) == {200: 1, 409: MOVERS - 1}
    async with db.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, slot_id, status FROM booking.bookings WHERE provider_id = $1", provider
        )
        active_per_slot = await conn.fetchval(
            """SELECT max(n) FROM (SELECT count(*) AS n FROM booking.bookings
               WHERE provider_id = $1 AND status IN ('pending', 'confirmed')
               GROUP BY slot_id) counts""",
            provider,
        )
        moved = await conn.fetchval(
            "SELECT count(*) FROM booking.events WHERE type = 'BOOKING_RESCHEDULED' "
            "AND data->>'provider_id' = $1",
            provider,
        )
    where = {str(row["id"]): str(row["slot_id"]) for row in rows}
    winner = bookings[statuses.index(200)]
    for booking, status in zip(bookings, statuses, strict=True):
        expected = target["id"] if status == 200 else booking["slot_id"]
        assert where[booking["id"]] == expected
    assert (active_per_slot, moved) == (1, 1)
    assert await api.slot_status(provider, winner["slot_id"]) == "open"


async def test_a_confirmed_booking_moved_is_pending_again_and_its_history_says_so(
    api: BookingApi,
) -> None:
    provider, user = unique("provider"), unique("user")
    first, second = await api.create_slot(provider), await api.create_slot(provider)
    booking = await api.booked(user, first["id"])
    assert (await api.answer(provider, booking["id"], "accept")).status == 200
    moved = await reschedule(api, user, booking["id"], second["id"])
    assert moved.status == 200, await moved.text()
    body = await moved.json()
    assert (body["status"], body["slot_id"], body["starts_at"]) == (
        "pending",
        second["id"],
        (await (await api.get(f"/bookings/{booking['id']}", user, "user")).json())["starts_at"],
    )
    assert await api.slot_status(provider, first["id"]) == "open"
    assert (await api.answer(provider, booking["id"], "accept")).status == 200
    cancelled = await api.answer(provider, booking["id"], "cancel", {"reason": "ill"})
    assert (cancelled.status, (await cancelled.json())["reason"]) == (200, "ill")
    history = await (await api.get(f"/bookings/{booking['id']}/history", user, "user")).json()
    assert [e["event_type"] for e in history["entries"]] == [
        "BOOKING_CREATED",
        "BOOKING_CONFIRMED",
        "BOOKING_RESCHEDULED",
        "BOOKING_CONFIRMED",
        "BOOKING_CANCELLED",
    ]
    assert await api.slot_status(provider, second["id"]) == "open"


async def test_a_move_to_a_taken_or_foreign_or_unknown_slot_changes_nothing(
    api: BookingApi,
) -> None:
    provider, user = unique("provider"), unique("user")
    own, taken = await api.create_slot(provider), await api.create_slot(provider)
    foreign = await api.create_slot(unique("provider"))
    booking = await api.booked(user, own["id"])
    await api.booked(unique("user"), taken["id"])
    answers = [
        (await reschedule(api, user, booking["id"], slot)).status
        for slot in (taken["id"], foreign["id"], own["id"], str(uuid.uuid4()))
    ]
    assert answers == [409, 422, 409, 404]
    stranger = await reschedule(api, unique("user"), booking["id"], foreign["id"])
    assert stranger.status == 403
    after = await (await api.get(f"/bookings/{booking['id']}", user, "user")).json()
    assert (after["slot_id"], after["status"]) == (own["id"], "pending")
    assert await api.slot_status(provider, own["id"]) is None  # still held
    assert await api.slot_status(foreign["provider_id"], foreign["id"]) == "open"


async def test_a_user_lists_only_their_own_bookings_newest_first_page_by_page(
    api: BookingApi,
) -> None:
    provider, user = unique("provider"), unique("user")
    made = [await api.booked(user, (await api.create_slot(provider))["id"]) for _ in range(5)]
    await api.answer(provider, made[0]["id"], "reject")
    seen: list[str] = []
    cursor = None
    while True:
        query = "/bookings?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await (await api.get(query, user, "user")).json()
        seen += [item["id"] for item in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == [b["id"] for b in reversed(made)]
    rejected = await (await api.get("/bookings?status=rejected", user, "user")).json()
    assert [item["id"] for item in rejected["items"]] == [made[0]["id"]]
    other = await (await api.get("/bookings", unique("user"), "user")).json()
    assert other["items"] == []
    assert (await api.get("/bookings", provider, "provider")).status == 403
