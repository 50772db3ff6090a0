"""SQL of the notification read side."""

from __future__ import annotations

import asyncpg


async def notifications_of(
    conn: asyncpg.Connection, recipient_id: str, limit: int
) -> list[asyncpg.Record]:
    """A recipient's notifications, newest first, with the state of each channel."""
    return await conn.fetch(
        """SELECT n.id, n.kind, n.subject, n.body, n.data, n.created_at,
                  coalesce(jsonb_object_agg(d.channel, d.status)
                           FILTER (WHERE d.channel IS NOT NULL), '{}'::jsonb) AS channels
           FROM notifications.notifications n
           LEFT JOIN notifications.deliveries d ON d.notification_id = n.id
           WHERE n.recipient_id = $1
           GROUP BY n.id
           ORDER BY n.created_at DESC, n.id LIMIT $2""",
        recipient_id,
        limit,
    )
