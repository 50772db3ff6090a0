"""Outbox relay: rows written to the outbox and published to SQS (the local fauxqs server, see
docs/sqs-server.md) by one relay, claims of 100 rows sent as concurrent SendMessageBatch calls
of 10, from insert to `sent_at`."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

from shared.config import Settings
from shared.events.booking import BookingConfirmed
from shared.events.envelope import Envelope, make_envelope
from shared.messaging import outbox
from shared.messaging.destinations import PROVIDER_EVENTS
from shared.messaging.relay import OutboxRelay
from shared.messaging.sqs import SqsPublisher, sqs_client
from shared.storage.pool import Database
from tests.bench.results import Result

ROWS = 1000
SCHEMA = "booking"


def _envelope(i: int) -> Envelope:
    now = datetime.now(UTC)
    payload = BookingConfirmed(
        booking_id=uuid.uuid4(),
        slot_id=uuid.uuid4(),
        user_id=f"u{i}",
        provider_id="p",
        starts_at=now,
        ends_at=now,
    )
    return make_envelope(payload, source="bench", subject=str(i))


async def run(settings: Settings) -> list[Result]:
    db = Database(settings.database_url, max_size=4)
    await db.start()
    await db.wait_ready(30)
    try:
        envelopes = [_envelope(i) for i in range(ROWS)]
        started = time.perf_counter()
        async with db.transaction() as conn:
            for envelope in envelopes:
                await outbox.add(conn, SCHEMA, PROVIDER_EVENTS, envelope)
        insert_seconds = time.perf_counter() - started
        async with sqs_client(settings, max_pool_connections=20) as client:
            # An empty queue of its own, so that it counts only this run's messages.
            url = (await client.create_queue(QueueName=f"bench-outbox-{uuid.uuid4().hex[:8]}"))[
                "QueueUrl"
            ]
            relay = OutboxRelay(
                db,
                SCHEMA,
                {PROVIDER_EVENTS: SqsPublisher(client, {PROVIDER_EVENTS: url})},
                batch_size=100,
                poll_interval=0.2,
            )
            started = time.perf_counter()
            task = asyncio.create_task(relay.run())
            try:
                while True:
                    async with db.acquire() as conn:
                        # Only its own rows: another benchmark may have left delayed ones.
                        left = await conn.fetchval(
                            f"SELECT count(*) FROM {SCHEMA}.outbox "
                            "WHERE sent_at IS NULL AND message_id = ANY($1::uuid[])",
                            [e.id for e in envelopes],
                        )
                    if left == 0:
                        break
                    await asyncio.sleep(0.05)
                relay_seconds = time.perf_counter() - started
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await relay.close()
    finally:
        await db.close()
    return [
        Result("outbox insert (one transaction)", ROWS / insert_seconds, "rows/s", f"{ROWS} rows"),
        Result(
            "relay publish to SQS",
            ROWS / relay_seconds,
            "messages/s",
            f"{ROWS} messages into one queue, one relay",
        ),
    ]
