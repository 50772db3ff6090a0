"""Wait until the database holds every migration of this code, without applying any.

`python -m tools.wait_migrated [--timeout SECONDS]` is the init container of every process on
Kubernetes (infra/k8s): a pod of a new release starts only once the release's migration Job
(`python -m tools migrate`) has applied everything its code expects, and pods of the old
release keep serving meanwhile. Exit 0 when nothing is missing, 1 at the deadline, naming
what still is (a schema's versions, or why the database did not answer).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import asyncpg

from shared.config import Settings
from shared.logging import configure_logging, get_logger
from shared.storage.migrations import plan
from tools.services import SERVICES

log = get_logger("tools.wait_migrated")


async def missing_migrations(dsn: str) -> list[str]:
    """`<schema>:<version>` of every migration this code has and the database lacks."""
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        missing = []
        for service in SERVICES:
            table = f"{service.schema}.schema_migrations"
            applied: set[str] = set()
            if await conn.fetchval("SELECT to_regclass($1)", table) is not None:
                rows = await conn.fetch(f'SELECT version FROM "{service.schema}".schema_migrations')
                applied = {row["version"] for row in rows}
            expected = plan(service.schema, service.migrations, prefix=f"{service.name}/")
            missing += [
                f"{service.schema}:{m.version}" for m in expected if m.version not in applied
            ]
        return sorted(set(missing), key=missing.index)
    finally:
        await conn.close()


async def wait_migrated(dsn: str, timeout: float, interval: float = 2.0) -> list[str]:
    """Poll until nothing is missing ([]), or return what still is at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            missing = await missing_migrations(dsn)
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            missing = [f"the database does not answer: {exc!r}"]
        if not missing or loop.time() >= deadline:
            return missing
        log.info("waiting for migrations", missing=len(missing), first=missing[0])
        await asyncio.sleep(min(interval, max(0.0, deadline - loop.time())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.wait_migrated", description=__doc__)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds (default 900)")
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging("tools", settings.log_level, json=settings.log_json)
    missing = asyncio.run(wait_migrated(settings.database_url, args.timeout))
    if missing:
        log.error(
            "migrations missing at the deadline: has the migration Job run?",
            missing=missing[:20],
            count=len(missing),
        )
        return 1
    log.info("every migration is applied")
    return 0


if __name__ == "__main__":
    sys.exit(main())
