"""A transient database error is retried in place, without spending the message's receives."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.events.envelope import Envelope
from shared.messaging.consumer import SqsConsumer
from shared.messaging.handling import TRANSIENT_ATTEMPTS
from shared.storage.pool import Database
from tests.integration.consumers.conftest import booking_event
from tests.support.wait import eventually


@contextlib.asynccontextmanager
async def consuming(consumer: SqsConsumer) -> AsyncIterator[None]:
    task = asyncio.create_task(consumer.run())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def table(db: Database) -> AsyncIterator[str]:
    name = f"transient_{uuid.uuid4().hex[:10]}"
    async with db.acquire() as conn:
        await conn.execute(f"CREATE TABLE {name} (event_id uuid PRIMARY KEY)")
    yield name
    async with db.acquire() as conn:
        await conn.execute(f"DROP TABLE {name}")


def handler(db: Database, table: str, failures: int, calls: list[uuid.UUID]) -> Any:
    """Record the event; the first `failures` runs meet a read-only transaction, a real
    ReadOnlySQLTransactionError from the server (as a failover to a standby would give)."""

    async def handle(envelope: Envelope) -> None:
        calls.append(envelope.id)
        async with db.transaction(readonly=len(calls) <= failures) as conn:
            await conn.execute(f"INSERT INTO {table} VALUES ($1)", envelope.id)

    return handle


async def _rows(db: Database, table: str) -> int:
    async with db.acquire() as conn:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))


async def test_a_read_only_error_is_retried_in_place_and_the_message_handled_at_once(
    db: Database, table: str, make_queue: Any, sqs: Any
) -> None:
    queue = await make_queue()
    calls: list[uuid.UUID] = []
    event = booking_event("BOOKING_CREATED", provider_id="p", user_id="u")
    await queue.send([event])
    # A released message would only come back after 30 s (the retry delay): well past the wait.
    consumer = SqsConsumer(
        sqs,
        queue.url,
        {"BOOKING_CREATED": handler(db, table, 2, calls)},
        wait_time=1,
        retry_base=30,
    )
    async with consuming(consumer):
        await eventually(queue.empty, timeout=10, what="the message handled and deleted")
    assert calls == [event.id] * 3
    assert await _rows(db, table) == 1
    assert await queue.dead_letters() == 0


async def test_a_persistent_transient_error_is_left_to_the_redrive_policy(
    db: Database, table: str, make_queue: Any, sqs: Any
) -> None:
    queue = await make_queue()  # dead-letters after 5 receives
    calls: list[uuid.UUID] = []
    await queue.send([booking_event("BOOKING_CREATED", provider_id="p", user_id="u")])
    consumer = SqsConsumer(
        sqs,
        queue.url,
        {"BOOKING_CREATED": handler(db, table, 10**6, calls)},
        wait_time=1,
        retry_base=0,
    )
    async with consuming(consumer):
        await eventually(queue.dead_letters, timeout=30, what="the message dead-lettered")
    assert len(calls) == 5 * TRANSIENT_ATTEMPTS
    assert await _rows(db, table) == 0
