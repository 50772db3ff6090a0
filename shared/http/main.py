"""The `__main__` of every service: settings, logging, app, serve until SIGTERM."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from shared.config import Settings
from shared.http.app import run
from shared.logging import configure_logging


def serve(
    service: str,
    create_app: Callable[[Settings], web.Application],
    port: Callable[[Settings], int],
) -> None:
    settings = Settings()
    configure_logging(service, settings.log_level, json=settings.log_json)
    run(create_app(settings), port(settings))
