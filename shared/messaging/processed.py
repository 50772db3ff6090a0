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
from aiohttp import web
from prometheus_client import Counter

from shared.events.envelope import Envelope
from shared.http.app import SETTINGS
from shared.http.lifecycle import DATABASE, run_periodic
from shared.logging import get_logger
from shared.messaging.handling import EventHandler
from shared.storage.pool import Database

log = get_logger(__name__)

Effect = Callable[[asyncpg.Connection, Envelope], Awaitable[None]]

PURGE_SLICE = 5000
PURGE_INTERVAL = 3600.0

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


async def purge_processed(
    db: Database, schema: str, retention: float, *, limit: int = PURGE_SLICE
) -> int:
    """Forget up to `limit` messages processed longer than `retention` seconds ago."""
    async with db.acquire() as conn:
        result = await conn.execute(
            f"""DELETE FROM {schema}.processed_messages WHERE (consumer, message_id) IN (
                    SELECT consumer, message_id FROM {schema}.processed_messages
                    WHERE processed_at < now() - make_interval(secs => $1) LIMIT $2)""",
            retention,
            limit,
        )
    return int(result.split()[-1])


def use_processed_purge(app: web.Application, schema: str) -> None:
    """Purge `schema`'s processed-message records past `processed_retention`, in slices, at
    once again while a whole slice went, so the table stays small at any message rate."""
    retention = app[SETTINGS].processed_retention

    async def step(app: web.Application) -> bool:
        return await purge_processed(app[DATABASE], schema, retention) >= PURGE_SLICE

    run_periodic(app, "processed-purge", step, interval=PURGE_INTERVAL)


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
