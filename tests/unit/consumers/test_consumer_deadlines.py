"""Handler deadlines per event type and the cap on how long a message stays hidden."""

from __future__ import annotations

import asyncio
import time

from shared.events.envelope import Envelope
from shared.messaging.consumer import SqsConsumer
from shared.messaging.visibility import Heartbeat, InFlight
from tests.unit.consumers.test_consumer import FakeQueue, run_until


async def test_a_handler_past_its_deadline_is_cancelled_and_its_message_released() -> None:
    queue = FakeQueue([(kind, of_type(kind)) for kind in ("SLOW", "OTHER", "QUICK")])
    cancelled: list[str] = []

    async def hang(envelope: Envelope) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(envelope.type)
            raise

    async def quick(envelope: Envelope) -> None:
        await asyncio.sleep(0.01)

    consumer = SqsConsumer(
        queue,
        "url/q",
        {"SLOW": hang, "OTHER": hang, "QUICK": quick},
        retry_base=1,
        deadlines={"SLOW": 0.05, "*": 0.1},
    )
    await run_until(consumer, lambda: len(queue.visibility) == 2 and queue.deleted)
    assert sorted(cancelled) == ["OTHER", "SLOW"]
    assert queue.deleted == ["h2"]
    assert queue.visibility == {"h0": 4, "h1": 4}  # third receive: 1 * 2**2 s, as any failure


def of_type(event_type: str) -> str:
    return Envelope(type=event_type, source="t", subject="s", data={}).model_dump_json()


def held(received_ago: float) -> InFlight:
    raw = {
        "MessageId": f"m{received_ago}",
        "ReceiptHandle": f"h{received_ago}",
        "Body": "{}",
        "Attributes": {"ApproximateReceiveCount": "1"},
    }
    message = InFlight.received(raw, visibility_timeout=1)
    message.received_at = time.monotonic() - received_ago
    return message


async def test_the_heartbeat_stops_hiding_a_message_held_past_the_cap() -> None:
    client = FakeQueue([])
    fresh, hung = held(5), held(120)
    inflight = {m.receipt_handle: m for m in (fresh, hung)}
    heartbeat = Heartbeat(client, "url/q", "q", inflight, visibility_timeout=30, max_hidden=60)
    await heartbeat.beat()
    assert client.visibility == {fresh.receipt_handle: 30}
    assert hung.lost and not fresh.lost
