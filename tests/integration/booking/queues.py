"""Reading what booking_api published: receive, count by event id, delete."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from shared.config import Settings
from shared.messaging.sqs import sqs_client
from tests.support.wait import eventually


@dataclass
class Received:
    counts: Counter[str] = field(default_factory=Counter)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)

    def of(self, event_ids: set[str]) -> Received:
        """Only these events (a relay also sends what earlier tests left in the outbox)."""
        return Received(
            Counter({e: n for e, n in self.counts.items() if e in event_ids}),
            {e: m for e, m in self.messages.items() if e in event_ids},
        )

    def types(self) -> Counter[str]:
        return Counter(m["type"] for m in self.messages.values())


async def receive(
    settings: Settings,
    queue_url: str,
    until: set[str],
    *,
    timeout: float = 30.0,
    settle: int = 1,
) -> Received:
    """Receive (and delete) messages until every event id in `until` arrived.

    Then poll `settle` more seconds so a late duplicate would be counted too.
    """
    received = Received()
    async with sqs_client(settings) as client:

        async def take(wait: int) -> int:
            response = await client.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=wait,
                MessageAttributeNames=["All"],
            )
            messages = response.get("Messages", [])
            for message in messages:
                body = json.loads(message["Body"])
                received.counts[body["id"]] += 1
                body["attributes"] = {
                    name: value["StringValue"]
                    for name, value in message.get("MessageAttributes", {}).items()
                }
                received.messages[body["id"]] = body
            if messages:
                await client.delete_message_batch(
                    QueueUrl=queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(messages)
                    ],
                )
            return len(messages)

        async def all_arrived() -> bool:
            await take(wait=1)
            return until <= set(received.counts)

        await eventually(all_arrived, timeout=timeout, interval=0, what="all messages received")
        for _ in range(settle):
            while await take(wait=1):
                pass
    return received
