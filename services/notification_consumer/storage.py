"""SQL of the notification read side."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from services.notification_consumer.typedefs import SCHEMA


async def notifications_of(
    conn: asyncpg.Connection,
    recipient_id: str,
    *,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """A recipient's notifications, newest first, with the state of each channel; keyset
    pagination before (created_at, id)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT n.id, n.kind, n.subject, n.body, n.data, n.created_at,
                  coalesce(jsonb_object_agg(d.channel, d.status)
                           FILTER (WHERE d.channel IS NOT NULL), '{{}}'::jsonb) AS channels
           FROM {SCHEMA}.notifications n
           LEFT JOIN {SCHEMA}.deliveries d ON d.notification_id = n.id
           WHERE n.recipient_id = $1
             AND ($2::timestamptz IS NULL OR (n.created_at, n.id) < ($2, $3::uuid))
           GROUP BY n.id
           ORDER BY n.created_at DESC, n.id DESC LIMIT $4""",
        recipient_id,
        before[0] if before else None,
        before[1] if before else None,
        limit,
    )
    return rows
