"""The outbox relay SIGKILLed mid-publish: booking_api (the process that runs the relay) starts
on a backlog of committed bookings whose events are all unsent, is killed twice while it
drains it, and restarted. Every event reaches its consumer, whose dedupe absorbs the copies a
kill between publish and mark-sent leaves; nothing stays unsent, in flight or dead-lettered."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import asyncpg
import pytest
from prometheus_client import REGISTRY

from services.booking_api import commands
from services.booking_api.domain import Status
from services.booking_api.uow import PostgresUnitOfWork
from shared.config import Settings
from shared.events.envelope import Trace
from shared.messaging.destinations import PROVIDER_EVENTS, USER_NOTICES
from shared.storage.pool import Database
from tests.faults.harness import kill_at
from tests.faults.processes import ServiceProcess
from tests.faults.queues import queue_depths
from tests.faults.report import record
from tests.integration.booking.api import unique
from tests.support.proxy import TcpProxy
from tests.support.wait import eventually

BOOKINGS = 1_496  # each BOOKING_CREATED (1 row) and BOOKING_CONFIRMED (2 rows): 4,488 rows
# SIGKILL booking_api once this share of the backlog is marked sent by the process running at
# the time: each kill lands while a relay that has published since its start is draining.
KILL_AFTER = (0.1, 0.15)
WRITERS = 8  # writing the backlog at once
SQS_LATENCY = 0.05  # seconds the proxy adds to each chunk between booking_api and SQS
CONSUMERS = {PROVIDER_EVENTS: "provider_inbox", USER_NOTICES: "notifications"}


async def _write_backlog(db: Database, provider: str, count: int, offset: int) -> list[str]:
    """`count` bookings, each created and confirmed through booking_api's commands, in the
    database only: no relay runs, so their outbox rows wait."""
    trace = Trace(correlation_id=str(uuid.uuid4()))
    start = datetime.now(UTC) + timedelta(days=2)
    ids = []
    for i in range(offset, offset + count):
        async with db.transaction() as conn:
            uow = PostgresUnitOfWork(conn)
            starts_at = start + timedelta(hours=i)
            slot = await commands.create_slot(
                uow, provider, starts_at, starts_at + timedelta(minutes=30), provider, trace
            )
            booking_id = await commands.book(uow, slot, unique("user"), None, 86_400, trace)
        async with db.transaction() as conn:
            uow = PostgresUnitOfWork(conn)
            booking = await commands.load(uow, booking_id)
            await commands.change_status(uow, booking, Status.CONFIRMED, provider, trace)
        ids.append(str(booking_id))
    return ids


async def _sent(db: Database, ids: list[uuid.UUID]) -> int:
    async with db.acquire() as conn:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM booking.outbox "
                "WHERE message_id = ANY($1::uuid[]) AND sent_at IS NOT NULL",
                ids,
            )
        )


@pytest.mark.timeout(300)
async def test_the_relay_killed_twice_mid_publish_delivers_every_event_once(
    consumers: Settings, db: Database
) -> None:
    settings = consumers
    per_writer = BOOKINGS // WRITERS
    batches = await asyncio.gather(
        *(
            _write_backlog(db, unique("provider"), per_writer, i * per_writer)
            for i in range(WRITERS)
        )
    )
    booking_ids = [b for batch in batches for b in batch]
    async with db.acquire() as conn:
        rows = await conn.fetch(
            "SELECT message_id, destination FROM booking.outbox "
            "WHERE body->>'subject' = ANY($1::text[]) AND sent_at IS NULL",
            booking_ids,
        )
    message_ids = [row["message_id"] for row in rows]
    by_destination = Counter(row["destination"] for row in rows)
    assert by_destination == {PROVIDER_EVENTS: 2 * len(booking_ids), USER_NOTICES: len(booking_ids)}

    # booking_api reaches SQS through a proxy that adds latency, so the drain takes seconds
    # and each kill lands in the middle of it, however fast the machine.
    real = urlsplit(settings.sqs_endpoint_url)
    proxy = await TcpProxy(real.hostname or "127.0.0.1", real.port or 80).start()
    proxy.delay = SQS_LATENCY
    through = settings.model_copy(update={"sqs_endpoint_url": f"http://127.0.0.1:{proxy.port}"})
    api = ServiceProcess("booking_api", through)
    try:
        api.start()
        sent_at_kill: list[int] = []
        for share in KILL_AFTER:
            threshold = (sent_at_kill[-1] if sent_at_kill else 0) + share * len(message_ids)
            sent_at_kill += await kill_at(
                api, lambda: _sent(db, message_ids), [threshold], what="rows sent", interval=0.01
            )

        async def all_sent() -> bool:
            return await _sent(db, message_ids) == len(message_ids)

        await eventually(all_sent, timeout=120, interval=0.2, what="the whole backlog sent")
        await eventually(
            lambda: _all_handled(db, rows), timeout=120, interval=0.2, what="every event handled"
        )

        async def queues_empty() -> bool:
            return await queue_depths(settings) == {}

        await eventually(queues_empty, timeout=60, interval=0.5, what="queues empty")
        stuck = await queue_depths(settings)
    finally:
        output = api.output()
        api.close()
        await proxy.close()

    assert sent_at_kill[-1] < len(message_ids), ("killed mid-drain", sent_at_kill)
    assert sent_at_kill[0] < sent_at_kill[1], "the restarted relay published before its kill"
    assert stuck == {}, (stuck, output)
    doubled = await _doubled_effects(db, message_ids)
    assert doubled == 0
    copies = _received(settings) - len(message_ids)
    record(
        "crash-relay",
        done=(
            f"{len(booking_ids)} bookings created and confirmed with the relay stopped leave "
            f"{len(message_ids)} unsent outbox rows; booking_api (running the relay, reaching "
            f"SQS through a proxy adding {SQS_LATENCY * 1000:.0f} ms per chunk) starts on "
            f"them and is SIGKILLed twice mid-drain (at {sent_at_kill[0]} and "
            f"{sent_at_kill[1]} rows marked sent), restarted each time; both consumers run"
        ),
        checked=(
            "every row marked sent; every event handled by its consumer (processed-message row "
            "per event and destination), no notification twice; queues and "
            f"dead-letter queues empty, nothing in flight; {max(0, copies)} copies re-published "
            "after a kill were received and recognised as duplicates"
        ),
        requests=0,
        faults=len(KILL_AFTER),
        messages=len(message_ids),
        lost=0,
        doubled=doubled,
    )


async def _all_handled(db: Database, rows: list[asyncpg.Record]) -> bool:
    async with db.acquire() as conn:
        for destination, schema in CONSUMERS.items():
            ids = [r["message_id"] for r in rows if r["destination"] == destination]
            handled = await conn.fetchval(
                f"SELECT count(*) FROM {schema}.processed_messages "
                "WHERE message_id = ANY($1::uuid[])",
                ids,
            )
            if handled != len(ids):
                return False
    return True


async def _doubled_effects(db: Database, message_ids: list[uuid.UUID]) -> int:
    """Notifications written more than once for one event."""
    async with db.acquire() as conn:
        extra = 0
        for schema in CONSUMERS.values():
            extra += await conn.fetchval(
                f"SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM "
                f"{schema}.notifications WHERE event_id = ANY($1::uuid[]) GROUP BY event_id) c",
                message_ids,
            )
    return int(extra)


def _received(settings: Settings) -> int:
    """Messages the in-process consumers received from the test's queues (copies included)."""
    urls = [settings.sqs_booking_request_queue_url, settings.sqs_booking_confirmation_queue_url]
    names = [url.rsplit("/", 1)[-1] for url in urls]
    metric = "sqs_consumer_received_total"
    return sum(int(REGISTRY.get_sample_value(metric, {"queue": n}) or 0) for n in names)
