"""Wiring of checkout_api: database, routes, OpenAPI, and its background loops (the reward
hand-off: outbox relay to the work queue and reconciler; the idempotency purge)."""

from __future__ import annotations

from aiohttp import web

from services.checkout_api.handoff import use_reward_handoff
from services.checkout_api.routes import add_routes
from services.checkout_api.typedefs import SCHEMA, SERVICE
from shared.config import Settings
from shared.http.app import create_base_app
from shared.http.idempotency import use_idempotency_purge
from shared.http.lifecycle import use_database
from shared.http.openapi import add_openapi


def create_app(settings: Settings) -> web.Application:
    app = create_base_app(SERVICE, settings)
    use_database(app, settings)
    add_routes(app)
    add_openapi(app, "checkout_api")
    use_reward_handoff(app, settings)
    use_idempotency_purge(app, SCHEMA)
    return app
