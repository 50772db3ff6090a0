"""Wiring of notification_consumer; a placeholder until its issue lands."""

from __future__ import annotations

from aiohttp import web

from shared.config import Settings
from shared.http.app import create_base_app
from shared.http.lifecycle import use_database

SERVICE = "notification_consumer"
SCHEMA = "notifications"


def create_app(settings: Settings) -> web.Application:
    app = create_base_app(SERVICE, settings)
    use_database(app, settings)
    return app
