"""Implementations of the operational commands."""

from __future__ import annotations

import importlib

from shared.config import Settings
from shared.logging import get_logger
from shared.messaging.sqs import provision_queues, queue_urls, sqs_client
from shared.storage.migrations import ensure_database, migrate
from shared.storage.pool import Database
from tools.services import SERVICES

log = get_logger("tools")


async def migrate_all(settings: Settings) -> None:
    await ensure_database(settings.database_url)
    for service in SERVICES:
        applied = await migrate(
            settings.database_url, service.schema, service.migrations, prefix=f"{service.name}/"
        )
        log.info(
            "schema up to date", service=service.name, schema=service.schema, applied=len(applied)
        )


async def provision(settings: Settings) -> dict[str, str]:
    async with sqs_client(settings) as client:
        return await provision_queues(client, list(queue_urls(settings).values()))


async def seed(settings: Settings) -> None:
    """Run each service's `seed(conn)` (module services.<name>.seed), if it has one."""
    db = Database(settings.database_url)
    await db.start()
    try:
        await db.wait_ready(timeout=30)
        for service in SERVICES:
            try:
                module = importlib.import_module(f"{service.module}.seed")
            except ModuleNotFoundError:
                continue
            async with db.transaction() as conn:
                await module.seed(conn, settings)
            log.info("demo data loaded", service=service.name)
    finally:
        await db.close()
