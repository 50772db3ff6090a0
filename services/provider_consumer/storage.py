"""SQL of the provider inbox."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.provider_consumer.typedefs import SCHEMA
from shared.events.booking import BookingCreated, BookingPayload


async def add_request(
    conn: asyncpg.Connection, request: BookingCreated, requested_at: datetime
) -> bool:
    """Add a pending request; False when the booking is known already (or closed before)."""
    added = await conn.fetchval(
        f"""INSERT INTO {SCHEMA}.requests
               (booking_id, provider_id, user_id, slot_id, starts_at, ends_at, notes,
                expires_at, requested_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (booking_id) DO NOTHING RETURNING true""",
        request.booking_id,
        request.provider_id,
        request.user_id,
        request.slot_id,
        request.starts_at,
        request.ends_at,
        request.notes,
        request.expires_at,
        requested_at,
    )
    return bool(added)


async def close_request(
    conn: asyncpg.Connection, booking: BookingPayload, reason: str, at: datetime
) -> bool:
    """Take a request out of the inbox, leaving a tombstone; False if it was not pending."""
    closed = await conn.fetchval(
        f"""INSERT INTO {SCHEMA}.requests
               (booking_id, provider_id, user_id, slot_id, starts_at, ends_at, requested_at,
                status, closed_reason, closed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'closed', $8, $7)
           ON CONFLICT (booking_id) DO UPDATE
               SET status = 'closed', closed_reason = $8, closed_at = $7
               WHERE {SCHEMA}.requests.status = 'pending'
           RETURNING true""",
        booking.booking_id,
        booking.provider_id,
        booking.user_id,
        booking.slot_id,
        booking.starts_at,
        booking.ends_at,
        at,
        reason,
    )
    return bool(closed)


async def pending_requests(
    conn: asyncpg.Connection, provider_id: str, limit: int
) -> list[asyncpg.Record]:
    """Requests still waiting for the provider's answer, soonest slot first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT booking_id, slot_id, user_id, starts_at, ends_at, notes, expires_at,
                  requested_at
           FROM {SCHEMA}.requests
           WHERE provider_id = $1 AND status = 'pending'
             AND (expires_at IS NULL OR expires_at > now())
           ORDER BY starts_at, booking_id LIMIT $2""",
        provider_id,
        limit,
    )
    return rows
