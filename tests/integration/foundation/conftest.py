"""Fixtures of the foundation's integration tests: a schema of each test's own, proxies."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from shared.config import Settings
from shared.storage.migrations import migrate
from tests.support.proxy import TcpProxy


def through(dsn: str, proxy: TcpProxy) -> str:
    """The same DSN, reaching the server through `proxy`."""
    parts = urlsplit(dsn)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


@pytest.fixture
async def schema(settings: Settings) -> AsyncIterator[str]:
    """A fresh schema with the shared tables (event store, outbox, idempotency, ledger)."""
    name = f"fnd_{uuid.uuid4().hex[:12]}"
    await migrate(settings.database_url, name)
    yield name
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    finally:
        await conn.close()


@pytest.fixture
async def pg_proxy(settings: Settings) -> AsyncIterator[TcpProxy]:
    """A proxy in front of the test database server, up."""
    parts = urlsplit(settings.database_url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    yield proxy
    await proxy.close()
