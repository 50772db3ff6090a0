"""Wiring of notification_consumer: the booking-confirmation queue and user notifications."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from services.notification_consumer.handlers import SCHEMA, SERVICE, TEMPLATES, build_routes
from services.notification_consumer.routes import add_routes
from shared.config import Settings
from shared.http.app import create_base_app
from shared.http.lifecycle import use_database
from shared.http.openapi import add_openapi
from shared.messaging.consumer_app import use_consumer
from shared.messaging.notifications import Templates, use_notifications

__all__ = ["SCHEMA", "SERVICE", "create_app"]

TEMPLATE_DIR = Path(__file__).with_name("templates")


def create_app(settings: Settings) -> web.Application:
    app = create_base_app(SERVICE, settings)
    app[TEMPLATES] = Templates(TEMPLATE_DIR)
    use_database(app, settings)
    use_notifications(app, settings, SCHEMA)
    use_consumer(
        app,
        settings,
        name="booking-confirmations",
        queue_url=settings.sqs_booking_confirmation_queue_url,
        routes=build_routes,
    )
    add_routes(app)
    add_openapi(app, "notification_consumer")
    return app
