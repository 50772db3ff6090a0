"""SQL of the provider inbox."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from services.provider_consumer.typedefs import SCHEMA
from shared.events.booking import BookingCreated, BookingPayload, BookingRescheduled


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
               -- An answer older than a reschedule answered the old time, not the new one.
               WHERE {SCHEMA}.requests.status = 'pending' AND {SCHEMA}.requests.requested_at <= $7
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


async def reopen_request(conn: asyncpg.Connection, moved: BookingRescheduled, at: datetime) -> bool:
    """A rescheduled booking waits for an answer again, at its new time; False when the
    inbox knows a later change (a cancel after the move, SQS keeping no order)."""
    reopened = await conn.fetchval(
        f"""INSERT INTO {SCHEMA}.requests
               (booking_id, provider_id, user_id, slot_id, starts_at, ends_at, expires_at,
                requested_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (booking_id) DO UPDATE
               SET slot_id = $4, starts_at = $5, ends_at = $6, expires_at = $7,
                   requested_at = $8, status = 'pending', closed_reason = NULL, closed_at = NULL
               WHERE {SCHEMA}.requests.requested_at < $8
                 AND ({SCHEMA}.requests.closed_at IS NULL OR {SCHEMA}.requests.closed_at < $8)
           RETURNING true""",
        moved.booking_id,
        moved.provider_id,
        moved.user_id,
        moved.slot_id,
        moved.starts_at,
        moved.ends_at,
        moved.expires_at,
        at,
    )
    return bool(reopened)


async def pending_requests(
    conn: asyncpg.Connection,
    provider_id: str,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Requests still waiting for the provider's answer, soonest slot first; keyset
    pagination after (starts_at, booking_id)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT booking_id, slot_id, user_id, starts_at, ends_at, notes, expires_at,
                  requested_at
           FROM {SCHEMA}.requests
           WHERE provider_id = $1 AND status = 'pending'
             AND (expires_at IS NULL OR expires_at > now())
             AND ($2::timestamptz IS NULL OR (starts_at, booking_id) > ($2, $3::uuid))
           ORDER BY starts_at, booking_id LIMIT $4""",
        provider_id,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return rows
