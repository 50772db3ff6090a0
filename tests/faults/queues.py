"""Counting what reached SQS: every expected message id, and any copy of it, across queues."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import asyncpg

from shared.config import Settings
from shared.messaging.sqs import sqs_client
from tests.support.wait import eventually


async def expected_messages(
    conn: asyncpg.Connection, schema: str, subjects: list[str]
) -> Counter[str]:
    """Message id -> outbox rows of it (one per destination) of the events about `subjects`."""
    rows = await conn.fetch(
        f"SELECT message_id::text AS id, count(*) AS n FROM {schema}.outbox "
        "WHERE body->>'subject' = ANY($1::text[]) GROUP BY message_id",
        subjects,
    )
    return Counter({row["id"]: int(row["n"]) for row in rows})


async def drain(
    settings: Settings,
    queue_urls: list[str],
    expected: Counter[str],
    *,
    timeout: float = 60.0,
    settle: float = 2.0,
) -> Counter[str]:
    """Receive and delete from every queue until each expected message arrived as often as
    expected, then for `settle` seconds more so that a late duplicate is counted too.
    Returns the count of each expected message id (others are taken and ignored)."""
    received: Counter[str] = Counter()
    async with sqs_client(settings, max_pool_connections=len(queue_urls) * 2) as client:

        async def take(url: str, wait: int) -> int:
            response = await client.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
            )
            messages = response.get("Messages", [])
            for message in messages:
                message_id = json.loads(message["Body"])["id"]
                if message_id in expected:
                    received[message_id] += 1
            if messages:
                await client.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(messages)
                    ],
                )
            return len(messages)

        async def take_all(url: str, wait: int) -> None:
            # Full receives mean more is waiting: take it now, not one receive per round
            # (a round waits `wait` seconds on the queue that is already empty).
            while await take(url, wait) == 10:
                pass

        async def arrived() -> bool:
            await asyncio.gather(*(take_all(url, 1) for url in queue_urls))
            return all(received[m] >= n for m, n in expected.items())

        await eventually(arrived, timeout=timeout, interval=0, what="every message on SQS")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settle
        while loop.time() < deadline:
            await asyncio.gather(*(take(url, 1) for url in queue_urls))
    return received


def lost_and_doubled(expected: Counter[str], received: Counter[str]) -> tuple[int, int]:
    """(messages that never arrived, extra copies that arrived)."""
    lost = sum(max(0, n - received[m]) for m, n in expected.items())
    doubled = sum(max(0, received[m] - n) for m, n in expected.items())
    return lost, doubled


async def queue_depths(settings: Settings, *, dead_letters: bool = True) -> dict[str, int]:
    """The settings' booking queues (and their dead-letter queues) that still hold a message,
    visible or in flight: queue name -> count. Empty when everything is drained."""
    urls = [settings.sqs_booking_request_queue_url, settings.sqs_booking_confirmation_queue_url]
    if dead_letters:
        urls += [f"{url}-dlq" for url in urls]
    left: dict[str, int] = {}
    async with sqs_client(settings) as sqs:
        for url in urls:
            visible, in_flight = await queue_counts(sqs, url)
            if visible + in_flight:
                left[url.rsplit("/", 1)[-1]] = visible + in_flight
    return left


async def queue_counts(client: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of one queue."""
    response = await client.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )
    attributes = response["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )
