"""Fixtures of the fault suite: private PostgreSQL and Redis servers and settings that use them.

The session's `settings` here replace the suite-wide ones: the database lives in a cluster of
this session's own (a test may stop it), the reward work queue in a Redis of its own (a test
may restart it empty), and the queues on the session's local SQS server.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack

import pytest

from services.notification_consumer.app import create_app as create_notification_app
from services.provider_consumer.app import create_app as create_provider_app
from shared.config import Settings
from shared.messaging.sqs import provision_queues, sqs_client
from shared.storage.pool import Database
from tests.conftest import SESSION_JWT_SECRET, SESSION_WEBHOOK_SECRET
from tests.faults import processes
from tests.faults.logscan import LogScan, session_secrets
from tests.faults.report import record
from tests.faults.servers import PostgresCluster, RabbitServer, RedisServer
from tests.support.audit import money_audit_fixture
from tests.support.http import serve
from tests.support.sqs_server import SqsServer

# The money invariants hold after every fault scenario too (make audit).
audit_money = money_audit_fixture()


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
    Redis, and queues of its own. The database URL carries a password (the cluster trusts
    local connections and ignores it) and the SQS secret key is random, so the log scan can
    tell if either is ever written out. Processes log at INFO, so there is much to scan."""
    from tools import commands

    suffix = uuid.uuid4().hex[:10]
    base = f"{sqs_server.url}/123456789012"
    password = secrets.token_urlsafe(18)
    settings = Settings(
        database_url=postgres.dsn("faults").replace("postgres@", f"postgres:{password}@", 1),
        aws_secret_access_key=secrets.token_urlsafe(30),
        redis_url=redis_server.url,
        sqs_endpoint_url=sqs_server.url,
        sqs_booking_request_queue_url=f"{base}/booking-requests-{suffix}",
        sqs_booking_confirmation_queue_url=f"{base}/booking-confirmations-{suffix}",
        work_queue_name=f"rewards-{suffix}",
        jwt_secret=SESSION_JWT_SECRET,
        webhook_secret=SESSION_WEBHOOK_SECRET,
        log_level="INFO",
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
async def consumers(own_queues: Settings) -> AsyncIterator[Settings]:
    """provider_consumer and notification_consumer in this process, on the test's own queues
    (polled with a short wait); yields their settings."""
    settings = own_queues.model_copy(update={"consumer_wait_time": 1})
    async with AsyncExitStack() as stack:
        for create in (create_provider_app, create_notification_app):
            await stack.enter_async_context(serve(create(settings)))
        yield settings


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.database_url, max_size=10)
    await database.start()
    await database.wait_ready(timeout=10)
    yield database
    await database.close()


@pytest.fixture(scope="session")
def log_scan(settings: Settings) -> Iterator[LogScan]:
    """The session's scan of every log line for secrets; its figures go to the report."""
    scan = LogScan(session_secrets(settings))
    yield scan
    sources = ", ".join(f"{name} {n}" for name, n in sorted(scan.sources.items()))
    record(
        "secrets-in-logs",
        done=(
            "every log line of the run scanned: each service process's stdout and stderr "
            f"(processes scanned: {sources}) and what in-process services logged"
        ),
        checked=(
            f"no line holds one of the {len(scan.secrets)} secrets given to the processes "
            f"({', '.join(sorted(scan.secrets))}), a bearer token or a password in a URL"
        ),
        requests=0,
        faults=0,
        messages=scan.lines,
        lost=len(scan.leaks),
        doubled=0,
        leaks=scan.leaks[:20],
    )


@pytest.fixture(autouse=True)
def no_secret_in_logs(log_scan: LogScan, capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    """After each test: its processes' logs and its captured output hold no secret."""
    yield
    out, err = capfd.readouterr()
    sys.stdout.write(out)  # still shown with a failure
    sys.stderr.write(err)
    leaks = log_scan.scan("test output", out + err)
    while processes.STARTED:
        process = processes.STARTED.pop()
        leaks += log_scan.scan(f"{process.service} process", process.output(tail=None))
        process.discard()
    assert not leaks, "secrets in logs:\n" + "\n".join(leaks)
