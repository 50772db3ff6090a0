"""Resources and background loops bound to an aiohttp application's life cycle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from shared.background import Loop
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


LoopFactory = Callable[[web.Application], Loop]


def run_loop(app: web.Application, name: str, build: LoopFactory) -> None:
    """Run the loop `build(app)` makes (at start-up, when resources are open) for the app's
    life, on the shared background runtime; /readyz gains `loop:<name>`."""
    key = web.AppKey(f"loop:{name}", Loop)

    async def background(app: web.Application) -> AsyncIterator[None]:
        loop = build(app)
        app[key] = loop
        loop.start()
        yield
        await loop.stop()

    async def healthy() -> None:
        await app[key].check()

    app.cleanup_ctx.append(background)
    add_readiness_check(app, f"loop:{name}", healthy)


def run_periodic(
    app: web.Application,
    name: str,
    step: Callable[[web.Application], Awaitable[bool | None]],
    *,
    interval: float,
    **options: Any,
) -> None:
    """`step(app)` every `interval` seconds once the database is ready (see `Loop.periodic`)."""

    def build(app: web.Application) -> Loop:
        return Loop.periodic(
            name,
            lambda: step(app),
            interval=interval,
            start_when=app[DATABASE].wait_ready if DATABASE in app else None,
            **options,
        )

    run_loop(app, name, build)


def run_continuous(
    app: web.Application,
    name: str,
    run: Callable[[web.Application], Awaitable[None]],
    **options: Any,
) -> None:
    """`run(app)` for the app's life once the database is ready (see `Loop.continuous`)."""

    def build(app: web.Application) -> Loop:
        return Loop.continuous(
            name,
            lambda: run(app),
            start_when=app[DATABASE].wait_ready if DATABASE in app else None,
            **options,
        )

    run_loop(app, name, build)
