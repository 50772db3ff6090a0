"""Idempotency-Key: a retry replays the first answer, a concurrent duplicate books nothing more."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from services.booking_api.typedefs import SCHEMA
from shared.config import Settings
from shared.storage.pool import Database
from tests.integration.booking.api import BookingApi, running, unique
from tests.support.wait import eventually


async def bookings_by(db: Database, user: str) -> int:
    async with db.acquire() as conn:
        return int(
            await conn.fetchval(f"SELECT count(*) FROM {SCHEMA}.bookings WHERE user_id = $1", user)
        )


async def test_retry_with_the_same_key_returns_the_first_response(
    api: BookingApi, db: Database
) -> None:
    user = unique("user")
    slot = await api.create_slot(unique("provider"))
    headers = {**api.auth(user, "user"), "Idempotency-Key": unique("key")}
    first = await api.client.post("/bookings", json={"slot_id": slot["id"]}, headers=headers)
    again = await api.client.post("/bookings", json={"slot_id": slot["id"]}, headers=headers)
    assert (first.status, again.status) == (201, 201)
    assert await first.json() == await again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await bookings_by(db, user) == 1


async def test_same_key_with_another_body_is_422(api: BookingApi, db: Database) -> None:
    user, provider = unique("user"), unique("provider")
    slots = [await api.create_slot(provider) for _ in range(2)]
    headers = {**api.auth(user, "user"), "Idempotency-Key": unique("key")}
    first = await api.client.post("/bookings", json={"slot_id": slots[0]["id"]}, headers=headers)
    other = await api.client.post("/bookings", json={"slot_id": slots[1]["id"]}, headers=headers)
    assert (first.status, other.status) == (201, 422)
    assert await bookings_by(db, user) == 1


async def test_concurrent_duplicates_make_one_booking(api: BookingApi, db: Database) -> None:
    user = unique("user")
    slot = await api.create_slot(unique("provider"))
    headers = {**api.auth(user, "user"), "Idempotency-Key": unique("key")}
    responses = await asyncio.gather(
        *(
            api.client.post("/bookings", json={"slot_id": slot["id"]}, headers=headers)
            for _ in range(20)
        )
    )
    # A duplicate is told to retry (409) while the first runs, or replays its response after.
    assert set(Counter(r.status for r in responses)) <= {201, 409}
    ids = {(await r.json())["id"] for r in responses if r.status == 201}
    replay = await api.client.post("/bookings", json={"slot_id": slot["id"]}, headers=headers)
    assert replay.status == 201
    assert len(ids | {(await replay.json())["id"]}) == 1
    assert await bookings_by(db, user) == 1


async def test_keys_are_per_caller(api: BookingApi, db: Database) -> None:
    provider = unique("provider")
    key = unique("key")
    for user in (unique("user"), unique("user")):
        slot = await api.create_slot(provider)
        headers = {**api.auth(user, "user"), "Idempotency-Key": key}
        response = await api.client.post("/bookings", json={"slot_id": slot["id"]}, headers=headers)
        assert response.status == 201
        assert (await response.json())["user_id"] == user


async def test_a_retried_accept_is_not_a_conflict(api: BookingApi) -> None:
    provider, user = unique("provider"), unique("user")
    booking = await api.booked(user, (await api.create_slot(provider))["id"])
    headers = {**api.auth(provider, "provider"), "Idempotency-Key": unique("key")}
    path = f"/providers/{provider}/bookings/{booking['id']}/accept"
    first = await api.client.post(path, headers=headers)
    retry = await api.client.post(path, headers=headers)
    assert (first.status, retry.status) == (200, 200)
    assert (await retry.json())["status"] == "confirmed"
    assert (await api.client.post(path, headers=api.auth(provider, "provider"))).status == 409


@pytest.fixture
async def short_key_api(settings: Settings) -> AsyncIterator[BookingApi]:
    async with running(settings.model_copy(update={"idempotency_ttl": 0.5})) as api:
        yield api


async def test_expired_keys_are_purged(short_key_api: BookingApi, db: Database) -> None:
    api = short_key_api
    user, key = unique("user"), unique("key")
    slot = await api.create_slot(unique("provider"))
    headers = {**api.auth(user, "user"), "Idempotency-Key": key}
    assert (
        await api.client.post("/bookings", json={"slot_id": slot["id"]}, headers=headers)
    ).status == 201

    async def purged() -> bool:
        async with db.acquire() as conn:
            return not await conn.fetchval(
                f"SELECT count(*) FROM {SCHEMA}.idempotency_keys WHERE principal = $1", user
            )

    await eventually(purged, timeout=10, what="the expired key purged")
