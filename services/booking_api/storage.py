"""SQL of the booking read models: guards, lookups and paginated lists."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from services.booking_api.typedefs import SCHEMA

SLOT_COLUMNS = "id, provider_id, starts_at, ends_at, time_zone, status"
BOOKING_COLUMNS = (
    "id, slot_id, user_id, provider_id, status, notes, reason, starts_at, ends_at, time_zone, "
    "expires_at, created_at, updated_at, version"
)


async def hold_slot(conn: asyncpg.Connection, slot_id: uuid.UUID) -> asyncpg.Record | None:
    """Compare-and-swap an open, future slot to held; None when it is not (row lock held).

    Concurrent callers queue on the row lock; once the first commits the others re-check
    `status = 'open'`, find it false and get None.
    """
    return await conn.fetchrow(
        f"""UPDATE {SCHEMA}.slots SET status = 'held'
            WHERE id = $1 AND status = 'open' AND starts_at > now()
            RETURNING provider_id, starts_at, ends_at, time_zone, now() AS now""",
        slot_id,
    )


async def find_slot(conn: asyncpg.Connection, slot_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {SLOT_COLUMNS} FROM {SCHEMA}.slots WHERE id = $1", slot_id)


async def lock_slot(conn: asyncpg.Connection, slot_id: uuid.UUID) -> asyncpg.Record | None:
    """The slot with a row lock: a withdrawal and a booking of it run one after the other."""
    return await conn.fetchrow(
        f"SELECT {SLOT_COLUMNS} FROM {SCHEMA}.slots WHERE id = $1 FOR UPDATE", slot_id
    )


async def slot_in_the_way(
    conn: asyncpg.Connection, provider_id: str, starts_at: datetime, ends_at: datetime
) -> uuid.UUID | None:
    """A slot of the provider's calendar overlapping [starts_at, ends_at), if any."""
    found: uuid.UUID | None = await conn.fetchval(
        f"""SELECT id FROM {SCHEMA}.slots
            WHERE provider_id = $1 AND status <> 'withdrawn'
              AND tstzrange(starts_at, ends_at) && tstzrange($2, $3)
            ORDER BY starts_at LIMIT 1""",
        provider_id,
        starts_at,
        ends_at,
    )
    return found


async def get_slot(conn: asyncpg.Connection, slot_id: uuid.UUID) -> asyncpg.Record:
    row = await find_slot(conn, slot_id)
    assert row is not None, "slot projected in this transaction"
    return row


async def find_booking(conn: asyncpg.Connection, booking_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {BOOKING_COLUMNS} FROM {SCHEMA}.bookings WHERE id = $1", booking_id
    )


async def get_booking(conn: asyncpg.Connection, booking_id: uuid.UUID) -> asyncpg.Record:
    row = await find_booking(conn, booking_id)
    assert row is not None, "booking projected in this transaction"
    return row


async def lock_booking(conn: asyncpg.Connection, booking_id: uuid.UUID) -> asyncpg.Record | None:
    """The booking with a row lock: concurrent transitions of one booking run one by one.
    With the database's clock (`now`, the transaction's start)."""
    return await conn.fetchrow(
        f"SELECT {BOOKING_COLUMNS}, now() AS now FROM {SCHEMA}.bookings WHERE id = $1 FOR UPDATE",
        booking_id,
    )


async def lock_expired(conn: asyncpg.Connection, limit: int) -> list[uuid.UUID]:
    """Pending bookings past their expiry, locked; rows another sweeper holds are skipped."""
    rows = await conn.fetch(
        f"""SELECT id FROM {SCHEMA}.bookings
            WHERE status = 'pending' AND expires_at <= now()
            ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED""",
        limit,
    )
    return [row["id"] for row in rows]


async def open_slots(
    conn: asyncpg.Connection,
    *,
    provider_id: str | None,
    starts_from: datetime | None,
    starts_before: datetime | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Open future slots by start time; keyset pagination after (starts_at, id).

    The WHERE clause holds only the filters given (values always as parameters): an
    optional filter written `($1 IS NULL OR provider_id = $1)` keeps a generic plan from
    using the provider's index, so it would read every open slot.
    """
    where = ["status = 'open'", "starts_at > now()"]
    args: list[object] = []

    def param(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    if provider_id is not None:
        where.append(f"provider_id = {param(provider_id)}")
    if starts_from is not None:
        where.append(f"starts_at >= {param(starts_from)}")
    if starts_before is not None:
        where.append(f"starts_at < {param(starts_before)}")
    if after is not None:
        where.append(f"(starts_at, id) > ({param(after[0])}, {param(after[1])})")
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT {SLOT_COLUMNS} FROM {SCHEMA}.slots
            WHERE {" AND ".join(where)}
            ORDER BY starts_at, id LIMIT {param(limit)}""",
        *args,
    )
    return rows


async def provider_bookings(
    conn: asyncpg.Connection,
    provider_id: str,
    *,
    status: str | None,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """A provider's bookings, newest first; keyset pagination before (created_at, id)."""
    return await _bookings_of(conn, "provider_id", provider_id, status, before, limit)


async def user_bookings(
    conn: asyncpg.Connection,
    user_id: str,
    *,
    status: str | None,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """A user's own bookings, newest first; keyset pagination before (created_at, id)."""
    return await _bookings_of(conn, "user_id", user_id, status, before, limit)


async def _bookings_of(
    conn: asyncpg.Connection,
    column: str,
    owner: str,
    status: str | None,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    assert column in ("provider_id", "user_id"), column  # a column name, never input
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT {BOOKING_COLUMNS} FROM {SCHEMA}.bookings
            WHERE {column} = $1
              AND ($2::text IS NULL OR status = $2)
              AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))
            ORDER BY created_at DESC, id DESC LIMIT $5""",
        owner,
        status,
        before[0] if before else None,
        before[1] if before else None,
        limit,
    )
    return rows
