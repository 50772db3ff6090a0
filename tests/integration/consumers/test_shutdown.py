"""SIGTERM to a real consumer process with messages in flight."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from services.provider_consumer.app import create_app
from shared.config import Settings
from shared.storage.pool import Database
from tests.integration.consumers.conftest import booking_event, processed
from tests.integration.consumers.test_runtime import through
from tests.support.http import serve
from tests.support.proxy import TcpProxy
from tests.support.sqs_server import free_port
from tests.support.wait import eventually

GRACE = 3.0


async def test_sigterm_with_messages_in_flight_exits_in_grace_and_loses_nothing(
    settings: Settings, db: Database, make_queue: Any
) -> None:
    queue = await make_queue()
    events = [
        booking_event("BOOKING_CREATED", provider_id="provider-sigterm", user_id=f"u{i}")
        for i in range(40)
    ]
    ids = [event.id for event in events]
    await queue.send(events)
    parts = urlsplit(settings.database_url)
    # A slow database keeps handlers busy for a few seconds each.
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    proxy.delay = 0.15
    env = {
        **os.environ,
        "DATABASE_URL": through(settings.database_url, proxy.port),
        "SQS_ENDPOINT_URL": settings.sqs_endpoint_url,
        "SQS_BOOKING_REQUEST_QUEUE_URL": queue.url,
        "PROVIDER_CONSUMER_PORT": str(free_port()),
        "CONSUMER_CONCURRENCY": "10",
        "CONSUMER_WAIT_TIME": "1",
        "SHUTDOWN_GRACE": str(GRACE),
        "LOG_LEVEL": "INFO",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.provider_consumer",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await eventually(
            lambda: _busy(queue, db, ids), timeout=30, interval=0.1, what="handlers busy"
        )
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, stderr = await asyncio.wait_for(process.communicate(), GRACE + 10)
        took = time.monotonic() - started
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await proxy.close()
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert took < GRACE + 5
    done = await processed(db, "provider_inbox", "provider_consumer", ids)
    visible, in_flight = await queue.counts()
    # Unfinished messages were released at once, handled ones deleted: nothing is lost.
    assert in_flight == 0, stderr.decode()[-3000:]
    assert done + visible >= 40
    assert done < 40

    catch_up = settings.model_copy(
        update={"sqs_booking_request_queue_url": queue.url, "consumer_wait_time": 1}
    )
    async with serve(create_app(catch_up)):
        await eventually(queue.empty, timeout=30, what="the rest handled")
    assert await processed(db, "provider_inbox", "provider_consumer", ids) == 40
    async with db.acquire() as conn:
        count = await conn.fetchval(
            "SELECT count(*) FROM provider_inbox.requests WHERE provider_id = 'provider-sigterm'"
        )
    assert count == 40


async def _busy(queue: Any, db: Database, ids: list[Any]) -> bool:
    """Some messages handled already, others still in the handlers' hands."""
    _, in_flight = await queue.counts()
    return in_flight >= 5 and await processed(db, "provider_inbox", "provider_consumer", ids) >= 2
