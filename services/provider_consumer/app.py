"""Wiring of provider_consumer; a placeholder until its issue lands (health, readiness, metrics)."""

from __future__ import annotations

from aiohttp import web

from shared.config import Settings
from shared.http.app import create_base_app
from shared.http.lifecycle import use_database

SERVICE = "provider_consumer"
SCHEMA = "provider_inbox"


def create_app(settings: Settings) -> web.Application:
    app = create_base_app(SERVICE, settings)
    use_database(app, settings)
    return app
