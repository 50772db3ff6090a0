"""Migration runner over plain versioned SQL files, one schema per service.

Every schema first receives the shared mechanisms (event store, outbox, idempotency keys,
processed messages) from `shared/storage/sql/`, with `{schema}` replaced by its name, then
the service's own files (where `{schema}` is replaced too, so a mechanism only some services
use, such as notifications, keeps one SQL file that each links into its migrations folder).
Versions are recorded in `<schema>.schema_migrations`; a
PostgreSQL advisory lock makes concurrent runs (two processes starting at once) safe.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from shared.logging import get_logger

log = get_logger(__name__)

SHARED_SQL = Path(__file__).with_name("sql")
MIGRATION_LOCK = 7_310_001  # arbitrary constant: one advisory lock for all migration runs
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def _read_dir(directory: Path, schema: str, prefix: str) -> list[Migration]:
    migrations = []
    numbers: dict[str, Path] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name must look like 0001_name.sql: {path}")
        # Two files with one number would apply in an order nobody chose.
        if match[1] in numbers:
            raise ValueError(
                f"migration number {match[1]} is used twice: {numbers[match[1]]}, {path}"
            )
        numbers[match[1]] = path
        sql = path.read_text().replace("{schema}", schema)
        migrations.append(Migration(f"{prefix}{path.stem}", sql))
    return migrations


def plan(schema: str, service_dir: Path | None, prefix: str = "") -> list[Migration]:
    """Every migration of a schema, in the order it must be applied.

    `prefix` (the owning service's name) keeps versions of two services sharing a schema apart.
    """
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name: {schema!r}")
    migrations = _read_dir(SHARED_SQL, schema, "shared/")
    if service_dir is not None and service_dir.is_dir():
        migrations += _read_dir(service_dir, schema, prefix)
    return migrations


async def migrate(
    dsn: str, schema: str, service_dir: Path | None = None, prefix: str = ""
) -> list[str]:
    """Apply what is not applied yet; return the versions applied by this call."""
    migrations = plan(schema, service_dir, prefix)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        try:
            return await _apply(conn, schema, migrations)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    finally:
        await conn.close()


async def _apply(conn: asyncpg.Connection, schema: str, migrations: list[Migration]) -> list[str]:
    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    await conn.execute(
        f"""CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations (
                version text PRIMARY KEY,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now())"""
    )
    rows = await conn.fetch(f'SELECT version, checksum FROM "{schema}".schema_migrations')
    applied = {row["version"]: row["checksum"] for row in rows}
    done = []
    for migration in migrations:
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                log.warning(
                    "applied migration was edited", schema=schema, version=migration.version
                )
            continue
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(
                f'INSERT INTO "{schema}".schema_migrations (version, checksum) VALUES ($1, $2)',
                migration.version,
                migration.checksum,
            )
        log.info("migration applied", schema=schema, version=migration.version)
        done.append(migration.version)
    return done


async def ensure_database(dsn: str) -> bool:
    """Create the database named in the DSN when it does not exist; True if created."""
    parts = urlsplit(dsn)
    name = parts.path.lstrip("/")
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
        raise ValueError(f"invalid database name: {name!r}")
    admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        if await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
            # Two processes creating it at once: the loser hits pg_database's unique index.
            return False
        log.info("database created", database=name)
        return True
    finally:
        await admin.close()
