"""Fixtures shared by every tier: a database, an SQS server and settings of this session's own.

Each test session creates a fresh database and uniquely named queues, so sessions running
at the same time on one machine never see each other's data, and random secrets of its own
(in the environment, so every Settings and every process a test starts gets them).
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from shared.config import Settings
from shared.logging import configure_logging
from shared.storage.pool import Database
from tests.support.sqs_server import SqsServer

SERVER_DSN = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


SESSION_JWT_SECRET = secrets.token_urlsafe(48)
SESSION_WEBHOOK_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def pytest_configure(config: pytest.Config) -> None:
    os.environ["JWT_SECRET"] = SESSION_JWT_SECRET
    os.environ["WEBHOOK_SECRET"] = SESSION_WEBHOOK_SECRET
    configure_logging("tests", "WARNING", json=True)


def _with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(SERVER_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def sqs_server() -> Iterator[SqsServer]:
    server = SqsServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def settings(sqs_server: SqsServer) -> Iterator[Settings]:
    """Settings for this session: its own database (migrated) and its own queues."""
    from tools import commands

    suffix = uuid.uuid4().hex[:10]
    name = f"test_{suffix}"
    base = f"{sqs_server.url}/123456789012"
    settings = Settings(
        database_url=_with_database(SERVER_DSN, name),
        sqs_endpoint_url=sqs_server.url,
        sqs_booking_request_queue_url=f"{base}/booking-requests-{suffix}",
        sqs_booking_confirmation_queue_url=f"{base}/booking-confirmations-{suffix}",
        work_queue_name=f"rewards-{suffix}",
        jwt_secret=SESSION_JWT_SECRET,
        webhook_secret=SESSION_WEBHOOK_SECRET,
        log_level="WARNING",
        outbox_poll_interval=0.5,
        shutdown_grace=5.0,
    )
    asyncio.run(commands.migrate_all(settings))
    asyncio.run(commands.provision(settings))
    yield settings
    asyncio.run(drop_database(name))


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.database_url, max_size=20)
    await database.start()
    await database.wait_ready(timeout=10)
    yield database
    await database.close()
