"""The `__main__` of every service: settings, logging, app, serve until SIGTERM."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import uvloop
from aiohttp import web

from shared.config import Settings
from shared.errors import RefusedToStart
from shared.http.app import run
from shared.logging import configure_logging, get_logger

log = get_logger(__name__)


def serve(
    service: str,
    create_app: Callable[[Settings], web.Application],
    port: Callable[[Settings], int],
) -> None:
    settings = Settings()
    configure_logging(service, settings.log_level, json=settings.log_json)
    # uvloop's event loop for the process: its transports and timers cost less Python per
    # request than asyncio's selector loop (docs/perf/README.md has the figures).
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        run(create_app(settings), port(settings))
    except RefusedToStart as refused:
        log.error("refused to start", error=str(refused))
        raise SystemExit(f"error: {refused}") from None
