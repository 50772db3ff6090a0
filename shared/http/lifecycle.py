"""Resources and background loops bound to an aiohttp application's life cycle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from aiohttp import web

from shared.config import Settings
from shared.http.app import add_readiness_check
from shared.logging import get_logger
from shared.storage.pool import Database

log = get_logger(__name__)

DATABASE = web.AppKey("database", Database)


def use_database(app: web.Application, settings: Settings) -> None:
    """Open a Database on start-up (without waiting for the server) and close it on exit."""

    async def database(app: web.Application) -> AsyncIterator[None]:
        db = Database(
            settings.database_url,
            min_size=settings.database_pool_min,
            max_size=settings.database_pool_max,
            command_timeout=settings.database_command_timeout,
        )
        await db.start()
        app[DATABASE] = db
        yield
        await db.close()

    app.cleanup_ctx.append(database)

    async def ping() -> None:
        await app[DATABASE].ping()

    add_readiness_check(app, "postgres", ping)


def run_in_background(
    app: web.Application,
    name: str,
    loop: Callable[[web.Application], Coroutine[Any, Any, None]],
    *,
    stop_timeout: float = 10.0,
) -> None:
    """Run `loop(app)` for the application's life; /readyz fails if it ever stops."""
    key: web.AppKey[asyncio.Task[None]] = web.AppKey(f"task:{name}", asyncio.Task)

    async def background(app: web.Application) -> AsyncIterator[None]:
        task: asyncio.Task[None] = asyncio.create_task(loop(app), name=name)
        task.add_done_callback(_report_death)
        app[key] = task
        yield
        task.cancel()
        try:
            await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), stop_timeout)
        except TimeoutError:
            log.error("background loop did not stop in time", loop=name)

    async def alive() -> None:
        task = app[key]
        if task.done():
            raise RuntimeError(f"background loop {name} has stopped")

    app.cleanup_ctx.append(background)
    add_readiness_check(app, f"loop:{name}", alive)


def _report_death(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("background loop died", loop=task.get_name(), error=repr(exc), exc_info=exc)
