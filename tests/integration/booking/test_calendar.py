"""A provider's calendar never overlaps, and an open slot can be withdrawn."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from shared.storage.pool import Database
from tests.integration.booking.api import BookingApi, unique

ATTEMPTS = 20


def window(start: datetime, minutes: int = 60) -> dict[str, str]:
    return {
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(minutes=minutes)).isoformat(),
    }


async def test_twenty_concurrent_overlapping_slots_make_exactly_one(api: BookingApi) -> None:
    provider = unique("provider")
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    headers = api.auth(provider, "provider")

    async def attempt(i: int) -> tuple[int, dict[str, object]]:
        # Every window shares base+50min..base+60min with every other one.
        body = window(base + timedelta(minutes=i), minutes=60)
        response = await api.client.post(f"/providers/{provider}/slots", json=body, headers=headers)
        return response.status, await response.json()

    answers = await asyncio.gather(*(attempt(i) for i in range(ATTEMPTS)))
    assert Counter(status for status, _ in answers) == {201: 1, 409: ATTEMPTS - 1}
    (winner,) = [body for status, body in answers if status == 201]
    refusals = [body for status, body in answers if status == 409]
    assert {body["slot_in_the_way"] for body in refusals} == {winner["id"]}


async def test_touching_slots_are_fine_and_the_database_refuses_an_overlap(
    api: BookingApi, db: Database
) -> None:
    provider = unique("provider")
    base = datetime.now(UTC) + timedelta(days=3)
    headers = api.auth(provider, "provider")
    for start in (base, base + timedelta(hours=1)):
        response = await api.client.post(
            f"/providers/{provider}/slots", json=window(start), headers=headers
        )
        assert response.status == 201
    other = await api.client.post(
        f"/providers/{unique('provider')}/slots", json=window(base), headers=api.auth("x", "admin")
    )
    assert other.status == 201
    # Even a writer that skips the command cannot put an overlap into the calendar.
    async with db.acquire() as conn:
        with pytest.raises(asyncpg.ExclusionViolationError):
            await conn.execute(
                """INSERT INTO booking.slots
                       (id, provider_id, starts_at, ends_at, status, created_at, updated_at)
                   VALUES (gen_random_uuid(), $1, $2, $3, 'open', now(), now())""",
                provider,
                base + timedelta(minutes=30),
                base + timedelta(minutes=90),
            )


async def test_a_withdrawn_slot_is_gone_and_frees_its_time(api: BookingApi) -> None:
    provider = unique("provider")
    slot = await api.create_slot(provider)
    path = f"/providers/{provider}/slots/{slot['id']}"
    assert (await api.client.delete(path, headers=api.auth(unique("p"), "provider"))).status == 403
    assert (await api.client.delete(path, headers=api.auth(provider, "provider"))).status == 204
    assert await api.slot_status(provider, slot["id"]) is None
    assert (await api.book(unique("user"), slot["id"])).status == 404
    assert (await api.client.delete(path, headers=api.auth(provider, "provider"))).status == 404
    again = await api.client.post(
        f"/providers/{provider}/slots",
        json={"starts_at": slot["starts_at"], "ends_at": slot["ends_at"]},
        headers=api.auth(provider, "provider"),
    )
    assert again.status == 201


async def test_a_held_or_booked_slot_cannot_be_withdrawn(api: BookingApi) -> None:
    provider = unique("provider")
    slot = await api.create_slot(provider)
    booking = await api.booked(unique("user"), slot["id"])
    path = f"/providers/{provider}/slots/{slot['id']}"
    headers = api.auth(provider, "provider")
    held = await api.client.delete(path, headers=headers)
    assert (held.status, (await held.json())["slot_status"]) == (409, "held")
    assert held.content_type == "application/problem+json"
    assert (await api.answer(provider, booking["id"], "accept")).status == 200
    assert (await api.client.delete(path, headers=headers)).status == 409


async def test_a_slot_keeps_its_time_zone_and_refuses_a_time_without_an_offset(
    api: BookingApi,
) -> None:
    provider, user = unique("provider"), unique("user")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=4)
    headers = api.auth(provider, "provider")
    path = f"/providers/{provider}/slots"
    zoned = await api.client.post(
        path, json={**window(start), "time_zone": "Europe/Paris"}, headers=headers
    )
    assert zoned.status == 201
    slot = await zoned.json()
    assert slot["time_zone"] == "Europe/Paris"
    booking = await api.booked(user, slot["id"])
    assert booking["time_zone"] == "Europe/Paris"
    unknown = {**window(start + timedelta(hours=2)), "time_zone": "Mars/Olympus"}
    naive = {"starts_at": "2031-01-01T10:00:00", "ends_at": "2031-01-01T11:00:00"}
    for body in (unknown, naive):
        response = await api.client.post(path, json=body, headers=headers)
        assert response.status == 422, body
