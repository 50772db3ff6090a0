"""The consumer runtime against real SQS: heartbeat, poison messages, database outage."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from services.provider_consumer.app import create_app
from shared.config import Settings
from shared.events.envelope import Envelope
from shared.messaging.consumer import SqsConsumer
from shared.storage.pool import Database
from tests.integration.consumers.conftest import booking_event, entry, processed
from tests.support.http import serve
from tests.support.proxy import TcpProxy
from tests.support.wait import eventually


@contextlib.asynccontextmanager
async def consuming(consumer: SqsConsumer) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(consumer.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def created(provider: str = "provider-1") -> Envelope:
    return booking_event("BOOKING_CREATED", provider_id=provider, user_id="user-1")


async def test_a_handler_slower_than_the_visibility_timeout_completes_once(
    make_queue: Any, sqs: Any
) -> None:
    queue = await make_queue(visibility_timeout=2)
    calls: Counter[uuid.UUID] = Counter()

    async def slow(envelope: Envelope) -> None:
        calls[envelope.id] += 1
        await asyncio.sleep(5)  # the work itself takes longer than the visibility timeout

    events = [created() for _ in range(3)]
    await queue.send(events)
    consumer = SqsConsumer(sqs, queue.url, {"BOOKING_CREATED": slow}, concurrency=5, wait_time=1)
    async with consuming(consumer):
        await eventually(queue.empty, timeout=20, interval=0.2, what="all handled and deleted")
    assert calls == {event.id: 1 for event in events}


async def test_poison_messages_end_in_the_dead_letter_queue_and_the_rest_is_handled(
    make_queue: Any, sqs: Any
) -> None:
    queue = await make_queue()
    handled: list[uuid.UUID] = []
    broken = created()

    async def handle(envelope: Envelope) -> None:
        if envelope.id == broken.id:
            raise ValueError("this event cannot be applied")
        handled.append(envelope.id)

    good = [created() for _ in range(5)]
    unknown = booking_event("BOOKING_CREATED", provider_id="p", user_id="u")
    unknown_entry = entry(unknown)
    unknown_entry["MessageAttributes"]["eventType"]["StringValue"] = "SOMETHING_ELSE"
    malformed = {**entry(created()), "MessageBody": "{not an envelope"}
    await queue.send_raw([unknown_entry, malformed, entry(broken)])
    consumer = SqsConsumer(
        sqs, queue.url, {"BOOKING_CREATED": handle}, concurrency=5, wait_time=1, retry_base=0
    )
    async with consuming(consumer) as task:
        await eventually(queue.dead_letters, what="poison dead-lettered")
        await eventually(lambda: _dead_letters(queue, 3), timeout=20, what="all three poisons")
        await queue.send(good)
        await eventually(queue.empty, what="good messages handled")
        assert not task.done()
    assert sorted(handled) == sorted(event.id for event in good)


async def _dead_letters(queue: Any, n: int) -> bool:
    return bool(await queue.dead_letters() == n)


def through(dsn: str, port: int) -> str:
    parts = urlsplit(dsn)
    netloc = f"{parts.username}@127.0.0.1:{port}" if parts.username else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


async def test_database_down_for_ten_seconds_deletes_nothing_unhandled_and_catches_up(
    settings: Settings, db: Database, make_queue: Any
) -> None:
    queue = await make_queue()
    parts = urlsplit(settings.database_url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    app_settings = settings.model_copy(
        update={
            "database_url": through(settings.database_url, proxy.port),
            "sqs_booking_request_queue_url": queue.url,
            "consumer_wait_time": 1,
            "consumer_retry_base": 0.0,
        }
    )
    before = [created() for _ in range(10)]
    during = [created() for _ in range(30)]
    try:
        async with serve(create_app(app_settings)):
            await queue.send(before)
            await eventually(queue.empty, what="handled before the outage")
            await proxy.down()
            await queue.send(during)
            ids = [event.id for event in during]
            outage_end = time.monotonic() + 10
            while time.monotonic() < outage_end:
                # Nothing is deleted or dead-lettered while the database is away.
                assert sum(await queue.counts()) == 30
                assert await queue.dead_letters() == 0
                await asyncio.sleep(0.5)
            assert await processed(db, "provider_inbox", "provider_consumer", ids) == 0
            await proxy.up()
            await eventually(queue.empty, timeout=30, interval=0.2, what="caught up")
    finally:
        await proxy.close()
    assert await processed(db, "provider_inbox", "provider_consumer", ids) == 30
    assert await queue.dead_letters() == 0
