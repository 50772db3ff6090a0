"""Fixtures of the fault suite: private PostgreSQL and Redis servers and settings that use them.

The session's `settings` here replace the suite-wide ones: the database lives in a cluster of
this session's own (a test may stop it), the reward work queue in a Redis of its own (a test
may restart it empty), and the queues on the session's local SQS server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from shared.config import Settings
from shared.messaging.sqs import provision_queues, sqs_client
from shared.storage.pool import Database
from tests.conftest import SESSION_JWT_SECRET, SESSION_WEBHOOK_SECRET
from tests.faults.servers import PostgresCluster, RabbitServer, RedisServer
from tests.support.sqs_server import SqsServer


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster().create()
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def rabbit_server() -> Iterator[RabbitServer]:
    """A RabbitMQ node of this session's own, started only for the tests that ask for it."""
    server = RabbitServer()
    server.start()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def settings(
    sqs_server: SqsServer, postgres: PostgresCluster, redis_server: RedisServer
) -> Settings:
    """Settings of this session: a migrated database on the private cluster, the private
    Redis, and queues of its own."""
    from tools import commands

    suffix = uuid.uuid4().hex[:10]
    base = f"{sqs_server.url}/123456789012"
    settings = Settings(
        database_url=postgres.dsn("faults"),
        redis_url=redis_server.url,
        sqs_endpoint_url=sqs_server.url,
        sqs_booking_request_queue_url=f"{base}/booking-requests-{suffix}",
        sqs_booking_confirmation_queue_url=f"{base}/booking-confirmations-{suffix}",
        work_queue_name=f"rewards-{suffix}",
        jwt_secret=SESSION_JWT_SECRET,
        webhook_secret=SESSION_WEBHOOK_SECRET,
        log_level="WARNING",
        outbox_poll_interval=0.5,
        shutdown_grace=5.0,
        database_pool_max=20,
    )
    asyncio.run(commands.migrate_all(settings))
    asyncio.run(commands.provision(settings))
    return settings


@pytest.fixture
async def own_queues(settings: Settings) -> Settings:
    """Settings whose booking queues and work queue nobody else uses, so messages can be
    counted."""
    suffix = uuid.uuid4().hex[:10]
    base = settings.sqs_booking_request_queue_url.rsplit("/", 1)[0]
    mine = settings.model_copy(
        update={
            "sqs_booking_request_queue_url": f"{base}/booking-requests-{suffix}",
            "sqs_booking_confirmation_queue_url": f"{base}/booking-confirmations-{suffix}",
            "work_queue_name": f"rewards-{suffix}",
        }
    )
    async with sqs_client(mine) as client:
        await provision_queues(
            client,
            [mine.sqs_booking_request_queue_url, mine.sqs_booking_confirmation_queue_url],
        )
    return mine


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.database_url, max_size=10)
    await database.start()
    await database.wait_ready(timeout=10)
    yield database
    await database.close()
