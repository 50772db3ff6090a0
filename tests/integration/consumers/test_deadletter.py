"""Dead-letter tooling against real SQS: inspect leaves messages in place, redrive moves them."""

from __future__ import annotations

from typing import Any

from shared.config import Settings
from shared.messaging.deadletter import main
from tests.integration.consumers.conftest import booking_event, entry


async def test_inspect_shows_dead_letters_and_redrive_moves_them_back_with_counts(
    settings: Settings, make_queue: Any, sqs: Any
) -> None:
    queue = await make_queue()
    events = [booking_event("BOOKING_CREATED", provider_id="p", user_id=f"u{i}") for i in range(12)]
    entries = [entry(event) for event in events]
    for start in range(0, 12, 10):
        await sqs.send_message_batch(
            QueueUrl=queue.dlq_url,
            Entries=[{**e, "Id": str(i)} for i, e in enumerate(entries[start : start + 10])],
        )

    report = await main(["inspect", queue.url, "--limit", "5"], settings)
    assert report["dead_letter_queue"] == queue.dlq_url
    assert len(report["messages"]) == 5
    assert {m["event_type"] for m in report["messages"]} == {"BOOKING_CREATED"}
    assert await queue.dead_letters() == 12  # inspecting takes nothing away

    counts = await main(["redrive", queue.url], settings)
    assert counts == {"received": 12, "sent": 12, "deleted": 12, "failed": 0}
    assert await queue.dead_letters() == 0
    assert await queue.counts() == (12, 0)

    response = await sqs.receive_message(
        QueueUrl=queue.url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    moved = response["Messages"]
    assert {m["MessageAttributes"]["eventType"]["StringValue"] for m in moved} == {
        "BOOKING_CREATED"
    }
    assert {m["Body"] for m in moved} <= {e.model_dump_json() for e in events}
