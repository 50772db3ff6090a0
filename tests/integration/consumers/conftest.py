"""Fixtures of the consumer tests: queues of each test's own, senders, waiting on SQS."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from shared.config import Settings
from shared.events.booking import BookingPayload
from shared.events.envelope import REGISTRY as EVENTS
from shared.events.envelope import Envelope, Payload
from shared.messaging.sqs import message_attributes, provision_queues, sqs_client
from shared.storage.pool import Database
from tests.support.wait import eventually


class Queue:
    """A queue and its dead-letter queue, created for one test."""

    def __init__(self, client: Any, url: str, dlq_url: str) -> None:
        self.client = client
        self.url = url
        self.dlq_url = dlq_url

    async def send(self, envelopes: Iterable[Envelope], *, copies: int = 1) -> int:
        """Send each envelope `copies` times, as the outbox relay would, in batches of ten."""
        entries = [entry(envelope) for envelope in envelopes for _ in range(copies)]
        await self.send_raw(entries)
        return len(entries)

    async def feed_twice(self, envelopes: list[Envelope], *, backlog: int = 60) -> int:
        """Send every envelope twice while a consumer runs, keeping the backlog small.

        Half of the copies travel side by side (handled concurrently), the other half a
        hundred messages later (handled after the first). The backlog stays small, as a
        running consumer keeps it.
        """
        order: list[Envelope] = []
        for i, envelope in enumerate(envelopes):
            order.append(envelope)
            if i % 2 == 0:
                order.append(envelope)
            elif i > 100:
                order.append(envelopes[i - 100])
        tail = range(max(1, len(envelopes) - 100), len(envelopes))
        order += [envelopes[i] for i in tail if i % 2 == 1]
        for start in range(0, len(order), 50):
            await self.send_raw([entry(e) for e in order[start : start + 50]])
            sent = start + 50
            await eventually(
                lambda sent=sent: self._below(sent, backlog),  # type: ignore[misc]
                timeout=60,
                interval=0.05,
                what="backlog",
            )
        return len(order)

    def deleted(self) -> int:
        """Messages a consumer in this process has deleted (read from its metrics, no I/O)."""
        name = self.url.rsplit("/", 1)[-1]
        value = REGISTRY.get_sample_value("sqs_consumer_deleted_total", {"queue": name})
        return int(value or 0)

    async def _below(self, sent: int, backlog: int) -> bool:
        return sent - self.deleted() <= backlog

    async def send_raw(self, entries: list[dict[str, Any]]) -> None:
        gate = asyncio.Semaphore(8)

        async def batch(chunk: list[dict[str, Any]]) -> None:
            numbered = [{**entry, "Id": str(i)} for i, entry in enumerate(chunk)]
            async with gate:
                response = await self.client.send_message_batch(QueueUrl=self.url, Entries=numbered)
            assert not response.get("Failed"), response["Failed"]

        await asyncio.gather(*(batch(entries[i : i + 10]) for i in range(0, len(entries), 10)))

    async def counts(self, url: str | None = None) -> tuple[int, int]:
        """(visible, in flight) messages of the queue (or of `url`)."""
        response = await self.client.get_queue_attributes(
            QueueUrl=url or self.url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
            ],
        )
        attributes = response["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )

    async def empty(self) -> bool:
        return await self.counts() == (0, 0)

    async def dead_letters(self) -> int:
        visible, in_flight = await self.counts(self.dlq_url)
        return visible + in_flight


def entry(envelope: Envelope) -> dict[str, Any]:
    """A SendMessageBatch entry as the outbox relay writes it."""
    return {
        "MessageBody": envelope.model_dump_json(),
        "MessageAttributes": message_attributes(
            {
                "eventType": envelope.type,
                "correlationId": envelope.correlationid or "",
                "traceparent": envelope.traceparent or "",
            }
        ),
    }


@pytest.fixture
async def sqs(settings: Settings) -> AsyncIterator[Any]:
    async with sqs_client(settings, max_pool_connections=20) as client:
        yield client


@pytest.fixture
async def make_queue(settings: Settings, sqs: Any) -> Any:
    """Create a fresh queue (redrive to its own DLQ after 5 receives), visibility as given."""

    async def make(visibility_timeout: int = 30) -> Queue:
        name = f"consumer-test-{uuid.uuid4().hex[:12]}"
        base = settings.sqs_booking_request_queue_url.rsplit("/", 1)[0]
        urls = await provision_queues(sqs, [f"{base}/{name}"])
        if visibility_timeout != 30:
            await sqs.set_queue_attributes(
                QueueUrl=urls[name], Attributes={"VisibilityTimeout": str(visibility_timeout)}
            )
        return Queue(sqs, urls[name], urls[f"{name}-dlq"])

    return make


def booking_event(type_: str, *, provider_id: str, user_id: str, **extra: Any) -> Envelope:
    """An envelope of a booking event as booking_api publishes it."""
    start = datetime(2030, 1, 1, 9, tzinfo=UTC)
    booking_id = extra.pop("booking_id", uuid.uuid4())
    data: dict[str, Any] = {
        "booking_id": booking_id,
        "slot_id": extra.pop("slot_id", uuid.uuid4()),
        "user_id": user_id,
        "provider_id": provider_id,
        "starts_at": start,
        "ends_at": start + timedelta(hours=1),
        **extra,
    }
    if type_ == "BOOKING_CREATED":
        data.setdefault("expires_at", datetime.now(UTC) + timedelta(days=1))
    payload = EVENTS.model(type_).model_validate(data)
    assert isinstance(payload, BookingPayload)
    return envelope_of(type_, payload, subject=str(booking_id))


def envelope_of(type_: str, payload: Payload, *, subject: str) -> Envelope:
    return Envelope(
        type=type_,
        source="tests",
        subject=subject,
        correlationid=str(uuid.uuid4()),
        traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
        data=json.loads(payload.model_dump_json()),
    )


async def processed(db: Database, schema: str, consumer: str, ids: list[uuid.UUID]) -> int:
    async with db.acquire() as conn:
        return int(
            await conn.fetchval(
                f"SELECT count(*) FROM {schema}.processed_messages "
                "WHERE consumer = $1 AND message_id = ANY($2::uuid[])",
                consumer,
                ids,
            )
        )
