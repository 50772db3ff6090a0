"""The open-slots query holds only the filters given in its WHERE clause: every combination
of filters lists exactly what the one query with optional filters (`$1 IS NULL OR ...`)
lists, in the same order."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from services.booking_api import storage
from shared.storage.pool import Database

OPTIONAL_FILTERS = """SELECT id, provider_id, starts_at, ends_at, time_zone, status
    FROM booking.slots
    WHERE status = 'open' AND starts_at > now()
      AND ($1::text IS NULL OR provider_id = $1)
      AND ($2::timestamptz IS NULL OR starts_at >= $2)
      AND ($3::timestamptz IS NULL OR starts_at < $3)
      AND ($4::timestamptz IS NULL OR (starts_at, id) > ($4, $5::uuid))
    ORDER BY starts_at, id LIMIT $6"""


async def _slots(conn: asyncpg.Connection, start: datetime) -> list[tuple[str, datetime]]:
    """Two providers' slots, hour after hour from `start`, the third one held."""
    providers = [f"open-slots-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    made = []
    for hour in range(8):
        provider, at = providers[hour % 2], start + timedelta(hours=hour)
        await conn.execute(
            """INSERT INTO booking.slots (id, provider_id, starts_at, ends_at, status,
                                          created_at, updated_at)
               VALUES ($1, $2, $3, $4, $5, now(), now())""",
            uuid.uuid4(),
            provider,
            at,
            at + timedelta(hours=1),
            "held" if hour == 2 else "open",
        )
        made.append((provider, at))
    return made


async def test_every_combination_of_filters_lists_what_the_optional_filters_list(
    db: Database,
) -> None:
    start = datetime(2090, 1, 1, tzinfo=UTC) + timedelta(weeks=uuid.uuid4().int % 5000)
    async with db.acquire() as conn:
        transaction = conn.transaction(isolation="repeatable_read")  # one snapshot
        await transaction.start()
        try:
            await _check_every_combination(conn, start)
        finally:
            await transaction.rollback()  # leaves no slot behind


async def _check_every_combination(conn: asyncpg.Connection, start: datetime) -> None:
    made = await _slots(conn, start)
    provider = made[0][0]
    mine = await storage.open_slots(
        conn, provider_id=provider, starts_from=start, starts_before=None, after=None, limit=50
    )
    assert [row["starts_at"] for row in mine] == [made[h][1] for h in (0, 4, 6)]
    cursor = (mine[0]["starts_at"], mine[0]["id"])
    choices = itertools.product(
        (None, provider),
        (None, start + timedelta(hours=1)),
        (None, start + timedelta(hours=6)),
        (None, cursor),
    )
    for provider_id, starts_from, starts_before, after in choices:
        listed = await storage.open_slots(
            conn,
            provider_id=provider_id,
            starts_from=starts_from,
            starts_before=starts_before,
            after=after,
            limit=50,
        )
        expected = await conn.fetch(
            OPTIONAL_FILTERS,
            provider_id,
            starts_from,
            starts_before,
            *(after or (None, None)),
            50,
        )
        assert listed == expected, (provider_id, starts_from, starts_before, after)
