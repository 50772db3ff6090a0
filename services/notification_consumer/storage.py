"""SQL of the notification read side."""

from __future__ import annotations

import asyncpg

from services.notification_consumer.typedefs import SCHEMA


async def notifications_of(
    conn: asyncpg.Connection, recipient_id: str, limit: int
) -> list[asyncpg.Record]:
    """A recipient's notifications, newest first, with the state of each channel."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT n.id, n.kind, n.subject, n.body, n.data, n.created_at,
                  coalesce(jsonb_object_agg(d.channel, d.status)
                           FILTER (WHERE d.channel IS NOT NULL), '{{}}'::jsonb) AS channels
           FROM {SCHEMA}.notifications n
           LEFT JOIN {SCHEMA}.deliveries d ON d.notification_id = n.id
           WHERE n.recipient_id = $1
           GROUP BY n.id
           ORDER BY n.created_at DESC, n.id LIMIT $2""",
        recipient_id,
        limit,
    )
    return rows
