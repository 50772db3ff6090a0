"""Bookkeeping tables stay small: expired Idempotency-Keys of both APIs and the consumers'
old processed-message records are purged in the background; what is still needed stays."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from aiohttp import web

from services.booking_api.app import create_app as booking_api
from services.checkout_api.app import create_app as checkout_api
from services.notification_consumer.app import create_app as notification_consumer
from services.provider_consumer.app import create_app as provider_consumer
from shared.config import Settings
from shared.storage.pool import Database
from tests.support.http import serve
from tests.support.wait import eventually


async def _count(db: Database, sql: str, *args: object) -> int:
    async with db.acquire() as conn:
        return int(await conn.fetchval(sql, *args))


@pytest.mark.parametrize(
    ("schema", "factory"), [("booking", booking_api), ("checkout", checkout_api)]
)
async def test_expired_idempotency_keys_are_purged_and_live_ones_kept(
    settings: Settings, db: Database, schema: str, factory: Callable[[Settings], web.Application]
) -> None:
    principal = f"purge-{uuid.uuid4().hex[:8]}"
    async with db.acquire() as conn:
        for key, expires in (
            ("old", "now() - interval '1 hour'"),
            ("live", "now() + interval '1 day'"),
        ):
            await conn.execute(
                f"""INSERT INTO {schema}.idempotency_keys (principal, key, request_hash, expires_at)
                    VALUES ($1, $2, 'h', {expires})""",
                principal,
                key,
            )
    query = f"SELECT count(*) FROM {schema}.idempotency_keys WHERE principal = $1"
    async with serve(factory(settings.model_copy(update={"idempotency_ttl": 1.0}))):
        await eventually(lambda: _has(db, 1, query, principal), what="the expired key purged")
    assert await _count(db, query + " AND key = 'live'", principal) == 1


@pytest.mark.parametrize(
    ("schema", "factory"),
    [("provider_inbox", provider_consumer), ("notifications", notification_consumer)],
)
async def test_old_processed_message_records_are_purged_and_recent_ones_kept(
    settings: Settings, db: Database, schema: str, factory: Callable[[Settings], web.Application]
) -> None:
    consumer = f"purge-{uuid.uuid4().hex[:8]}"
    old, recent = uuid.uuid4(), uuid.uuid4()
    async with db.acquire() as conn:
        await conn.executemany(
            f"""INSERT INTO {schema}.processed_messages (consumer, message_id, processed_at)
                VALUES ($1, $2, now() - make_interval(days => $3))""",
            [(consumer, old, 20), (consumer, recent, 1)],
        )
    query = f"SELECT count(*) FROM {schema}.processed_messages WHERE consumer = $1"
    retention = {"processed_retention": 7 * 86_400.0}
    async with serve(factory(settings.model_copy(update=retention))):
        await eventually(lambda: _has(db, 1, query, consumer), what="the old record purged")
    assert await _count(db, query + " AND message_id = $2", consumer, recent) == 1


async def _has(db: Database, expected: int, sql: str, *args: object) -> bool:
    return await _count(db, sql, *args) == expected
