"""The init container's check: a new database lacks every migration, a migrated one none, and
the wait ends as soon as the migration Job has run (real PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from shared.config import Settings
from shared.storage.migrations import ensure_database
from tests.conftest import drop_database
from tools import commands
from tools.services import SERVICES
from tools.wait_migrated import missing_migrations, wait_migrated


@pytest.fixture
async def empty_database(settings: Settings) -> AsyncIterator[str]:
    name = f"test_wait_{uuid.uuid4().hex[:10]}"
    dsn = urlunsplit(urlsplit(settings.database_url)._replace(path=f"/{name}"))
    await ensure_database(dsn)
    yield dsn
    await drop_database(name)


async def test_a_migrated_database_lacks_nothing(settings: Settings) -> None:
    assert await missing_migrations(settings.database_url) == []
    assert await wait_migrated(settings.database_url, timeout=0) == []


async def test_an_empty_database_lacks_every_schema(empty_database: str) -> None:
    missing = await missing_migrations(empty_database)
    assert {entry.split(":")[0] for entry in missing} == {s.schema for s in SERVICES}
    assert any(m.startswith("booking:shared/") for m in missing)
    assert any(m.startswith("checkout:checkout_api/") for m in missing)
    assert await wait_migrated(empty_database, timeout=0.2, interval=0.1) == missing


async def test_the_wait_ends_once_the_migrations_are_applied(
    settings: Settings, empty_database: str
) -> None:
    waiting = asyncio.create_task(wait_migrated(empty_database, timeout=60, interval=0.2))
    await asyncio.sleep(0.5)
    assert not waiting.done()
    await commands.migrate_all(settings.model_copy(update={"database_url": empty_database}))
    assert await asyncio.wait_for(waiting, 30) == []


async def test_an_unreachable_database_is_named_at_the_deadline() -> None:
    missing = await wait_migrated("postgresql://postgres@127.0.0.1:1/none", timeout=0)
    assert len(missing) == 1 and missing[0].startswith("the database does not answer")
