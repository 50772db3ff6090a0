"""Wiring of an outbox relay into an aiohttp application: one helper for every service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager

from aiohttp import web

from shared.config import Settings
from shared.http.app import SETTINGS, add_readiness_check
from shared.http.lifecycle import DATABASE
from shared.messaging.outbox import Publisher
from shared.messaging.relay import OutboxRelay

PublisherFactory = Callable[
    [Settings, Sequence[str]], AbstractAsyncContextManager[Mapping[str, Publisher]]
]


def use_outbox_relay(
    app: web.Application,
    schema: str,
    destinations: Sequence[str],
    publishers: PublisherFactory,
    *,
    name: str = "outbox-relay",
) -> None:
    """Relay `schema`'s outbox rows of `destinations` for the application's life.

    `publishers(settings, destinations)` opens the brokers' clients (at start-up, closed on exit)
    and gives a Publisher per destination. The relay's loops run on the background runtime,
    one per destination, so /readyz shows `loop:<name>:<destination>` each. No readiness
    check on the brokers themselves: with one down, the API keeps taking writes.
    """

    async def relay(app: web.Application) -> AsyncIterator[None]:
        async with publishers(app[SETTINGS], destinations) as opened:
            outbox = OutboxRelay(
                app[DATABASE],
                schema,
                opened,
                poll_interval=app[SETTINGS].outbox_poll_interval,
            )
            loops = outbox.loops(name)
            for loop in loops:
                add_readiness_check(app, f"loop:{loop.name}", loop.check)
                loop.start()
            try:
                yield
            finally:
                await asyncio.gather(*(loop.stop() for loop in loops))
                await outbox.close()

    app.cleanup_ctx.append(relay)
