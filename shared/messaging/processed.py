"""Idempotent message handling: an event's effect is applied once per consumer.

The event id is inserted into `<schema>.processed_messages` in the same transaction as the
effect. A redelivered event finds its row and is skipped. Two deliveries handled at once:
the second insert waits on the first's uncommitted row, then finds it (skip) or, if the first
rolled back, applies the effect itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import asyncpg
from prometheus_client import Counter

from shared.events.envelope import Envelope
from shared.logging import get_logger
from shared.messaging.consumer import EventHandler
from shared.storage.pool import Database

log = get_logger(__name__)

Effect = Callable[[asyncpg.Connection, Envelope], Awaitable[None]]

DUPLICATES = Counter(
    "consumer_duplicates_skipped_total", "Events skipped as already processed", ["consumer"]
)


async def mark_processed(
    conn: asyncpg.Connection, schema: str, consumer: str, event_id: uuid.UUID
) -> bool:
    """Record the event as processed by `consumer`; False when it already was."""
    inserted = await conn.fetchval(
        f"""INSERT INTO {schema}.processed_messages (consumer, message_id) VALUES ($1, $2)
            ON CONFLICT DO NOTHING RETURNING true""",
        consumer,
        event_id,
    )
    return bool(inserted)


def once(
    db: Database,
    schema: str,
    consumer: str,
    effect: Effect,
    *,
    after_commit: Callable[[], None] | None = None,
) -> EventHandler:
    """A handler applying `effect` in one transaction with the processed-event record."""

    async def handle(envelope: Envelope) -> None:
        async with db.transaction() as conn:
            if not await mark_processed(conn, schema, consumer, envelope.id):
                DUPLICATES.labels(consumer).inc()
                log.info("event already processed, skipped")
                return
            await effect(conn, envelope)
        if after_commit is not None:
            after_commit()

    return handle
