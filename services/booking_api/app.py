"""Wiring of booking_api: routes, database, outbox relay, expiry sweep, idempotency purge."""

from __future__ import annotations

import asyncio

from aiohttp import web

from services.booking_api import expiry
from services.booking_api.projections import SCHEMA
from services.booking_api.routes import add_routes
from shared.config import Settings
from shared.http.app import SETTINGS, create_base_app
from shared.http.idempotency import purge_expired
from shared.http.lifecycle import DATABASE, run_in_background, use_database
from shared.http.openapi import add_openapi
from shared.logging import get_logger
from shared.messaging.outbox import OutboxRelay
from shared.messaging.sqs import SqsPublisher, queue_urls, sqs_client
from shared.storage.pool import is_unavailable

log = get_logger(__name__)

SERVICE = "booking_api"
__all__ = ["SCHEMA", "SERVICE", "create_app"]

# Short SQS timeouts: a dead broker fails a publish fast and the row is retried later.
SQS_CONNECT_TIMEOUT = 2.0
SQS_READ_TIMEOUT = 5.0
PURGE_INTERVAL_CAP = 3600.0


async def relay_outbox(app: web.Application) -> None:
    """Publish outbox rows to SQS for the life of the process."""
    settings = app[SETTINGS]
    urls = queue_urls(settings)
    await app[DATABASE].wait_ready()
    async with sqs_client(
        settings, connect_timeout=SQS_CONNECT_TIMEOUT, read_timeout=SQS_READ_TIMEOUT
    ) as client:
        publisher = SqsPublisher(client, urls)
        relay = OutboxRelay(
            app[DATABASE],
            SCHEMA,
            dict.fromkeys(urls, publisher),
            poll_interval=settings.outbox_poll_interval,
        )
        try:
            await relay.run()
        finally:
            await relay.close()


async def purge_idempotency_keys(app: web.Application) -> None:
    """Delete expired Idempotency-Keys now and then (a key lives `idempotency_ttl`)."""
    interval = min(max(app[SETTINGS].idempotency_ttl, 1.0), PURGE_INTERVAL_CAP)
    await app[DATABASE].wait_ready()
    while True:
        try:
            purged = await purge_expired(app[DATABASE], SCHEMA)
            if purged:
                log.info("expired idempotency keys purged", count=purged)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("idempotency purge skipped, database unavailable", error=repr(exc))
        await asyncio.sleep(interval)


def create_app(settings: Settings) -> web.Application:
    app = create_base_app(SERVICE, settings)
    use_database(app, settings)
    add_routes(app)
    add_openapi(app, "Booking API")
    run_in_background(app, "outbox-relay", relay_outbox)
    run_in_background(app, "booking-expiry", expiry.run)
    run_in_background(app, "idempotency-purge", purge_idempotency_keys)
    return app
