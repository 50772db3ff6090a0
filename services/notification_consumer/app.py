"""Wiring of notification_consumer: the booking-confirmation queue and user notifications."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from services.notification_consumer.handlers import event_handlers
from services.notification_consumer.routes import add_routes
from services.notification_consumer.typedefs import SCHEMA, SERVICE
from shared.config import Settings
from shared.messaging.consumer_app import ConsumerService, create_consumer_app

CONSUMER = ConsumerService(
    service=SERVICE,
    schema=SCHEMA,
    loop="booking-confirmations",
    queue_url=lambda settings: settings.sqs_booking_confirmation_queue_url,
    templates=Path(__file__).with_name("templates"),
    event_handlers=event_handlers,
    add_routes=add_routes,
)


def create_app(settings: Settings) -> web.Application:
    return create_consumer_app(settings, CONSUMER)
