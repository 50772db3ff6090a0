"""Wiring of booking_api: routes, database, and its background loops (outbox relay to SQS,
expiry sweep, idempotency purge)."""

from __future__ import annotations

from aiohttp import web

from services.booking_api import expiry
from services.booking_api.routes import add_routes
from services.booking_api.typedefs import SCHEMA, SERVICE
from shared.config import Settings
from shared.http.app import create_base_app
from shared.http.idempotency import use_idempotency_purge
from shared.http.lifecycle import DATABASE, run_periodic, use_database
from shared.http.openapi import add_openapi
from shared.messaging.destinations import PROVIDER_EVENTS, USER_NOTICES
from shared.messaging.outbox_app import use_outbox_relay
from shared.messaging.sqs import sqs_publishers


def create_app(settings: Settings) -> web.Application:
    app = create_base_app(SERVICE, settings)
    use_database(app, settings)
    add_routes(app)
    add_openapi(app, "Booking API")
    use_outbox_relay(app, SCHEMA, [PROVIDER_EVENTS, USER_NOTICES], sqs_publishers)
    run_periodic(
        app,
        "booking-expiry",
        lambda app: expiry.expire_step(app[DATABASE]),
        interval=settings.booking_expiry_interval,
    )
    use_idempotency_purge(app, SCHEMA)
    return app
