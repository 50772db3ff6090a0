"""Every process survives the database losing its write ability for a while.

The database is made read-only for five seconds (new sessions default to read-only and the
open ones are cut), then writable again: every background loop fails, is retried and
recovers, so all five processes are ready again within ten seconds.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from services.booking_api.app import create_app as booking_api
from services.checkout_api.app import create_app as checkout_api
from services.notification_consumer.app import create_app as notification_consumer
from services.provider_consumer.app import create_app as provider_consumer
from services.reward_worker.app import create_app as reward_worker
from shared.config import Settings
from tests.conftest import SERVER_DSN
from tests.support.http import serve
from tests.support.wait import eventually

OUTAGE = 5.0
RECOVERY_DEADLINE = 10.0


async def _set_read_only(database: str, on: bool) -> None:
    conn = await asyncpg.connect(SERVER_DSN)
    try:
        if on:
            await conn.execute(
                f'ALTER DATABASE "{database}" SET default_transaction_read_only = on'
            )
        else:
            await conn.execute(f'ALTER DATABASE "{database}" RESET default_transaction_read_only')
        # Open sessions keep their setting: cut them, so every pool reconnects under the new one.
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await conn.close()


async def _all_ready(clients: dict[str, Any]) -> dict[str, str] | None:
    not_ready: dict[str, str] = {}
    for name, client in clients.items():
        response = await client.get("/readyz")
        if response.status != 200:
            not_ready[name] = await response.text()
    return not_ready or None


async def test_every_process_is_ready_again_soon_after_the_database_is_writable_again(
    settings: Settings,
) -> None:
    # Purges run every second, so the outage hits every kind of loop while it lasts.
    settings = settings.model_copy(update={"idempotency_ttl": 1.0, "booking_expiry_interval": 0.5})
    database = urlsplit(settings.database_url).path.lstrip("/")
    factories = {
        "booking_api": booking_api,
        "checkout_api": checkout_api,
        "provider_consumer": provider_consumer,
        "notification_consumer": notification_consumer,
        "reward_worker": reward_worker,
    }
    async with AsyncExitStack() as stack:
        clients = {
            name: await stack.enter_async_context(serve(factory(settings)))
            for name, factory in factories.items()
        }

        async def ready() -> bool:
            return await _all_ready(clients) is None

        await eventually(ready, timeout=20.0, what="every process ready before the outage")
        await _set_read_only(database, True)
        try:
            await asyncio.sleep(OUTAGE)  # the outage itself lasts a fixed time, by design
        finally:
            await _set_read_only(database, False)
        restored = time.monotonic()
        await eventually(
            ready, timeout=RECOVERY_DEADLINE, interval=0.2, what="every process ready again"
        )
        assert time.monotonic() - restored < RECOVERY_DEADLINE
        # And they stay ready: no loop died on the way.
        assert await _all_ready(clients) is None
