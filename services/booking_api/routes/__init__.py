"""HTTP handlers of booking_api, by resource: authenticate, validate, run a command or query."""

from __future__ import annotations

from aiohttp import web

from services.booking_api.routes import bookings, providers, slots, stats


def add_routes(app: web.Application) -> None:
    """Register every route of booking_api."""
    slots.add_routes(app)
    providers.add_routes(app)
    bookings.add_routes(app)
    stats.add_routes(app)
