"""Event handlers of provider_consumer: keep the inbox and notify the provider.

BOOKING_CREATED adds a pending request; every answer or ending (BOOKING_CONFIRMED,
BOOKING_REJECTED, BOOKING_CANCELLED, BOOKING_EXPIRED) removes it at once, and
BOOKING_RESCHEDULED puts it back at its new time, so the inbox shows only the requests still
waiting for an answer. The provider is notified of moves, of the user's cancellations and of
expiries (its own answers it knows already).
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from services.provider_consumer import storage
from services.provider_consumer.typedefs import SCHEMA, SERVICE
from shared.events.booking import (
    BookingCancelled,
    BookingCreated,
    BookingPayload,
    BookingRescheduled,
)
from shared.events.envelope import Envelope
from shared.http.lifecycle import DATABASE
from shared.messaging.handling import EventHandler, EventHandlers
from shared.messaging.notifications import DISPATCHER, TEMPLATES, Notifier
from shared.messaging.processed import Effect, once

NOTIFIED_ON_CLOSE = frozenset({"BOOKING_CANCELLED", "BOOKING_EXPIRED"})


def _values(payload: BookingPayload) -> dict[str, Any]:
    return payload.notice_values()


def event_handlers(app: web.Application) -> EventHandlers:
    dispatcher = app[DISPATCHER]
    notifier = Notifier(SCHEMA, app[TEMPLATES], list(dispatcher.channels))

    async def created(conn: asyncpg.Connection, envelope: Envelope) -> None:
        request = BookingCreated.model_validate(envelope.data)
        if await storage.add_request(conn, request, envelope.time):
            await notifier.notify(
                conn, envelope.id, request.provider_id, envelope.type, _values(request)
            )

    async def closed(conn: asyncpg.Connection, envelope: Envelope) -> None:
        booking = envelope.payload()
        assert isinstance(booking, BookingPayload)
        removed = await storage.close_request(conn, booking, envelope.type, envelope.time)
        by_provider = isinstance(booking, BookingCancelled) and booking.cancelled_by == "provider"
        if removed and envelope.type in NOTIFIED_ON_CLOSE and not by_provider:
            await notifier.notify(
                conn, envelope.id, booking.provider_id, envelope.type, _values(booking)
            )

    async def rescheduled(conn: asyncpg.Connection, envelope: Envelope) -> None:
        moved = BookingRescheduled.model_validate(envelope.data)
        if await storage.reopen_request(conn, moved, envelope.time):
            await notifier.notify(
                conn, envelope.id, moved.provider_id, envelope.type, _values(moved)
            )

    def handler(effect: Effect) -> EventHandler:
        return once(app[DATABASE], SCHEMA, SERVICE, effect, after_commit=dispatcher.wake)

    return {
        "BOOKING_CREATED": handler(created),
        "BOOKING_CANCELLED": handler(closed),
        "BOOKING_EXPIRED": handler(closed),
        "BOOKING_CONFIRMED": handler(closed),
        "BOOKING_REJECTED": handler(closed),
        "BOOKING_RESCHEDULED": handler(rescheduled),
    }
