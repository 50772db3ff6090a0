"""Migrations under concurrency, and creating a missing database."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from shared.config import Settings
from shared.storage.migrations import ensure_database, migrate, plan
from tests.conftest import drop_database


@pytest.fixture
async def new_schema(settings: Settings) -> AsyncIterator[str]:
    name = f"fnd_mig_{uuid.uuid4().hex[:10]}"
    yield name
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    finally:
        await conn.close()


def _migrations_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "migrations"
    directory.mkdir()
    # A table without IF NOT EXISTS: applying it twice would fail.
    (directory / "0001_widgets.sql").write_text(
        "CREATE TABLE {schema}.widgets (id int PRIMARY KEY);\n"
        "CREATE TABLE {schema}.applied_log (version text);\n"
        "INSERT INTO {schema}.applied_log VALUES ('0001');\n"
        "SELECT pg_sleep(0.2);\n"
    )
    (directory / "0002_more.sql").write_text(
        "ALTER TABLE {schema}.widgets ADD COLUMN name text;\n"
        "INSERT INTO {schema}.applied_log VALUES ('0002');\n"
    )
    return directory


async def test_concurrent_migrations_apply_each_version_once(
    settings: Settings, new_schema: str, tmp_path: Path
) -> None:
    directory = _migrations_dir(tmp_path)
    runs = await asyncio.gather(
        *(migrate(settings.database_url, new_schema, directory, "svc/") for _ in range(5))
    )
    expected = [m.version for m in plan(new_schema, directory, "svc/")]
    applied = Counter(version for run in runs for version in run)
    assert sorted(applied) == sorted(expected)
    assert set(applied.values()) == {1}
    conn = await asyncpg.connect(settings.database_url)
    try:
        recorded = await conn.fetch(
            f"SELECT version, checksum FROM {new_schema}.schema_migrations ORDER BY version"
        )
        log = await conn.fetch(f"SELECT version FROM {new_schema}.applied_log ORDER BY version")
    finally:
        await conn.close()
    assert sorted(r["version"] for r in recorded) == sorted(expected)
    checksums = {m.version: m.checksum for m in plan(new_schema, directory, "svc/")}
    assert all(r["checksum"] == checksums[r["version"]] for r in recorded)
    assert [r["version"] for r in log] == ["0001", "0002"]
    assert await migrate(settings.database_url, new_schema, directory, "svc/") == []


async def test_a_failing_migration_is_rolled_back_and_not_recorded(
    settings: Settings, new_schema: str, tmp_path: Path
) -> None:
    directory = _migrations_dir(tmp_path)
    (directory / "0003_broken.sql").write_text(
        "CREATE TABLE {schema}.half (id int);\nSELECT no_such_function();\n"
    )
    with pytest.raises(asyncpg.UndefinedFunctionError):
        await migrate(settings.database_url, new_schema, directory, "svc/")
    conn = await asyncpg.connect(settings.database_url)
    try:
        versions = await conn.fetch(f"SELECT version FROM {new_schema}.schema_migrations")
        half = await conn.fetchval("SELECT to_regclass($1)", f"{new_schema}.half")
    finally:
        await conn.close()
    assert "svc/0003_broken" not in {r["version"] for r in versions}
    assert "svc/0002_more" in {r["version"] for r in versions}
    assert half is None
    (directory / "0003_broken.sql").write_text("CREATE TABLE {schema}.half (id int);\n")
    assert await migrate(settings.database_url, new_schema, directory, "svc/") == [
        "svc/0003_broken"
    ]


async def test_ensure_database_creates_a_missing_database_once(settings: Settings) -> None:
    name = f"fnd_ensure_{uuid.uuid4().hex[:10]}"
    dsn = urlunsplit(urlsplit(settings.database_url)._replace(path=f"/{name}"))
    try:
        created = await asyncio.gather(*(ensure_database(dsn) for _ in range(3)))
        assert sorted(created) == [False, False, True]
        assert await ensure_database(dsn) is False
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT current_database()") == name
        finally:
            await conn.close()
    finally:
        await drop_database(name)


async def test_ensure_database_refuses_a_suspicious_name(settings: Settings) -> None:
    dsn = urlunsplit(urlsplit(settings.database_url)._replace(path='/x"; DROP'))
    with pytest.raises(ValueError, match="database name"):
        await ensure_database(dsn)
