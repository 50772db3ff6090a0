"""Replaying the events rebuilds the read models row for row."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from services.booking_api.typedefs import SCHEMA
from shared.config import Settings
from shared.storage.pool import Database
from tests.integration.booking.api import BookingApi, running, unique
from tests.support.wait import eventually

# Every read model of the booking context, with the key its rows are ordered by.
READ_MODELS = {
    "slots": "id",
    "bookings": "id",
    "provider_requests": "booking_id",
    "provider_answers": "booking_id, version",
}


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    async with db.acquire() as conn:
        return {
            table: [
                tuple(row)
                for row in await conn.fetch(f"SELECT * FROM {SCHEMA}.{table} ORDER BY {key}")
            ]
            for table, key in READ_MODELS.items()
        }


async def mixed_workload(api: BookingApi) -> str:
    """Every kind of change; returns the id of a booking that expires."""
    provider = unique("provider")
    slots = [(await api.create_slot(provider, hours_ahead=5 + i))["id"] for i in range(8)]
    users = [unique("user") for _ in range(6)]
    accepted = await api.booked(users[0], slots[0])
    assert (await api.answer(provider, accepted["id"], "accept")).status == 200
    rejected = await api.booked(users[1], slots[1])
    assert (await api.answer(provider, rejected["id"], "reject", {"reason": "no"})).status == 200
    rebooked = await api.booked(users[2], slots[1])  # the rejected slot, booked again
    assert (await api.answer(provider, rebooked["id"], "accept")).status == 200
    assert (await api.cancel(users[2], rebooked["id"], "changed my mind")).status == 200
    cancelled = await api.booked(users[3], slots[2])
    assert (await api.cancel(users[3], cancelled["id"])).status == 200
    expiring = await api.booked(users[4], slots[3])
    moved = await api.booked(users[5], slots[4])  # moved to another slot, left pending
    response = await api.client.post(
        f"/bookings/{moved['id']}/reschedule",
        json={"slot_id": slots[5]},
        headers=api.auth(users[5], "user"),
    )
    assert response.status == 200
    withdrawn = await api.client.delete(
        f"/providers/{provider}/slots/{slots[7]}", headers=api.auth(provider, "provider")
    )
    assert withdrawn.status == 204
    return str(expiring["id"])


async def test_replay_rebuilds_rows_equal_to_the_live_ones(
    settings: Settings, db: Database
) -> None:
    fast = settings.model_copy(update={"booking_pending_ttl": 1.0, "booking_expiry_interval": 0.1})
    async with running(fast) as api:
        expiring = await mixed_workload(api)

        async def expired() -> bool:
            response = await api.get(f"/bookings/{expiring}", "root", "admin")
            return bool((await response.json())["status"] == "expired")

        await eventually(expired, timeout=10, what="a booking expired")
    live = await snapshot(db)  # the service has stopped: nothing changes from here
    assert all(live.values()), {table: len(rows) for table, rows in live.items()}

    # Damage the read models: replay must restore them from the events alone.
    async with db.acquire() as conn:
        await conn.execute(f"DELETE FROM {SCHEMA}.bookings WHERE status = 'cancelled'")
        # (Withdrawn slots stay so: put back on the calendar they could overlap others.)
        await conn.execute(f"UPDATE {SCHEMA}.slots SET status = 'booked' WHERE status = 'open'")
        await conn.execute(f"DELETE FROM {SCHEMA}.provider_answers WHERE answer = 'rejected'")
        await conn.execute(f"UPDATE {SCHEMA}.provider_requests SET accepted = NOT accepted")
    assert await snapshot(db) != live

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tools.replay",
        "booking",
        env={**os.environ, "DATABASE_URL": settings.database_url, "LOG_LEVEL": "WARNING"},
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    assert b"booking read models rebuilt from" in output and b"checkout" not in output

    assert await snapshot(db) == live
