"""A consumer process SIGKILLed twice mid-stream: after restarts every event is handled exactly
once, and nothing is left in flight or dead-lettered."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from shared.config import Settings
from shared.messaging.sqs import sqs_client
from shared.storage.pool import Database
from tests.faults.harness import kill_at
from tests.faults.processes import ServiceProcess
from tests.faults.queues import queue_counts
from tests.faults.report import record
from tests.integration.consumers.conftest import booking_event, entry
from tests.support.wait import eventually

EVENTS = 1_200
KILL_AT = (300, 800)  # SIGKILL once this many events are handled
VISIBILITY = 3  # seconds: messages a killed consumer held come back quickly


@dataclass(frozen=True)
class Consumer:
    service: str
    schema: str
    queue_setting: str
    event_type: str
    recipient: str  # the payload field naming who is notified


CONSUMERS = [
    Consumer(
        "provider_consumer",
        "provider_inbox",
        "sqs_booking_request_queue_url",
        "BOOKING_CREATED",
        "provider_id",
    ),
    Consumer(
        "notification_consumer",
        "notifications",
        "sqs_booking_confirmation_queue_url",
        "BOOKING_CONFIRMED",
        "user_id",
    ),
]


async def _handled(db: Database, consumer: Consumer, ids: list[uuid.UUID]) -> int:
    async with db.acquire() as conn:
        return int(
            await conn.fetchval(
                f"SELECT count(*) FROM {consumer.schema}.processed_messages "
                "WHERE consumer = $1 AND message_id = ANY($2::uuid[])",
                consumer.service,
                ids,
            )
        )


@pytest.mark.timeout(300)
@pytest.mark.parametrize("consumer", CONSUMERS, ids=lambda c: c.service)
async def test_a_consumer_killed_twice_mid_stream_handles_every_event_exactly_once(
    own_queues: Settings, db: Database, consumer: Consumer
) -> None:
    url = getattr(own_queues, consumer.queue_setting)
    envelopes = [
        booking_event(consumer.event_type, provider_id=f"p-{i % 20}", user_id=f"u-{i % 50}")
        for i in range(EVENTS)
    ]
    ids = [envelope.id for envelope in envelopes]
    async with sqs_client(own_queues, max_pool_connections=20) as sqs:
        await sqs.set_queue_attributes(
            QueueUrl=url, Attributes={"VisibilityTimeout": str(VISIBILITY)}
        )
        for start in range(0, EVENTS, 10):
            batch = [
                {**entry(e), "Id": str(i)} for i, e in enumerate(envelopes[start : start + 10])
            ]
            response = await sqs.send_message_batch(QueueUrl=url, Entries=batch)
            assert not response.get("Failed"), response["Failed"]

        process = ServiceProcess(consumer.service, own_queues.model_copy(
            update={"consumer_wait_time": 1, "consumer_queue_depth_interval": 1.0}
        ))  # fmt: skip
        try:
            process.start()
            handled_at_kill = await kill_at(
                process, lambda: _handled(db, consumer, ids), KILL_AT, what="handled"
            )

            async def all_handled_and_queue_empty() -> bool:
                return await _handled(db, consumer, ids) == EVENTS and await queue_counts(
                    sqs, url
                ) == (0, 0)

            await eventually(
                all_handled_and_queue_empty, timeout=120, interval=0.2, what="stream drained"
            )
            dead = sum(await queue_counts(sqs, f"{url}-dlq"))
        finally:
            output = process.output()
            process.close()

    assert handled_at_kill[0] < EVENTS and handled_at_kill[1] < EVENTS, "killed mid-stream"
    assert dead == 0, output
    async with db.acquire() as conn:
        notices = await conn.fetch(
            f"SELECT event_id, count(*) AS n FROM {consumer.schema}.notifications "
            "WHERE event_id = ANY($1::uuid[]) GROUP BY event_id",
            ids,
        )
        if consumer.service == "provider_consumer":
            inbox = await conn.fetchval(
                "SELECT count(*) FROM provider_inbox.requests WHERE booking_id = ANY($1::uuid[])",
                [uuid.UUID(str(e.data["booking_id"])) for e in envelopes],
            )
            assert inbox == EVENTS
    per_event = {row["event_id"]: int(row["n"]) for row in notices}
    lost = sum(1 for i in ids if i not in per_event)
    doubled = sum(n - 1 for n in per_event.values())
    assert (lost, doubled) == (0, 0), (lost, doubled)
    record(
        f"crash-{consumer.service}",
        done=(
            f"{EVENTS} {consumer.event_type} events queued; {consumer.service} runs as a process "
            f"and is SIGKILLed twice (after {handled_at_kill[0]} and {handled_at_kill[1]} "
            "handled), restarted each time"
        ),
        checked=(
            "every event handled exactly once (one processed-message row and one notification "
            "per event"
            + (", one inbox request per booking" if consumer.service == "provider_consumer" else "")
            + "); queue empty, nothing in flight, dead-letter queue empty"
        ),
        requests=0,
        faults=len(KILL_AT),
        messages=EVENTS,
        lost=lost,
        doubled=doubled,
    )
