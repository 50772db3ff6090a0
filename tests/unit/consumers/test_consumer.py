"""The consumer's decisions on one message, with a fake SQS client (no I/O)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from botocore.exceptions import ClientError

from shared.errors import ServiceUnavailable
from shared.events.envelope import Envelope
from shared.logging import current_context
from shared.messaging.consumer import SqsConsumer
from tests.support.wait import eventually


class FakeQueue:
    """A queue of one message batch; records deletes and visibility changes."""

    def __init__(self, bodies: list[tuple[str, str]], *, receive_errors: int = 0) -> None:
        self.pending = [
            {
                "MessageId": f"m{i}",
                "ReceiptHandle": f"h{i}",
                "Body": body,
                "Attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "0"},
                "MessageAttributes": {"eventType": {"StringValue": type_}},
            }
            for i, (type_, body) in enumerate(bodies)
        ]
        self.receive_errors = receive_errors
        self.receives = 0
        self.deleted: list[str] = []
        self.visibility: dict[str, int] = {}

    async def get_queue_attributes(self, QueueUrl: str, AttributeNames: Any) -> Any:
        return {"Attributes": {"VisibilityTimeout": "30", "ApproximateNumberOfMessages": "0"}}

    async def receive_message(self, **kwargs: Any) -> Any:
        self.receives += 1
        if self.receive_errors:
            self.receive_errors -= 1
            raise ClientError({"Error": {"Code": "ServiceUnavailable"}}, "ReceiveMessage")
        batch, self.pending = self.pending[: kwargs["MaxNumberOfMessages"]], []
        if not batch:
            await asyncio.sleep(0.01)
        return {"Messages": batch}

    async def delete_message_batch(self, QueueUrl: str, Entries: Any) -> Any:
        self.deleted += [e["ReceiptHandle"] for e in Entries]
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}

    async def change_message_visibility_batch(self, QueueUrl: str, Entries: Any) -> Any:
        for e in Entries:
            self.visibility[e["ReceiptHandle"]] = e["VisibilityTimeout"]
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}


def body() -> str:
    return Envelope(type="THING_HAPPENED", source="t", subject="s", data={}).model_dump_json()


async def run_until(consumer: SqsConsumer, done: Any) -> None:
    async def done_now() -> bool:
        return bool(done())

    task = asyncio.create_task(consumer.run())
    try:
        await eventually(done_now, timeout=5, interval=0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_failed_unknown_and_malformed_messages_are_released_with_backoff_not_deleted() -> (
    None
):
    queue = FakeQueue(
        [("THING_HAPPENED", body()), ("OTHER", body()), ("THING_HAPPENED", "{"), ("BAD", body())]
    )

    async def handle(envelope: Envelope) -> None:
        pass

    async def fail(envelope: Envelope) -> None:
        raise ValueError("cannot apply")

    consumer = SqsConsumer(queue, "url/q", {"THING_HAPPENED": handle, "BAD": fail}, retry_base=1)
    await run_until(consumer, lambda: len(queue.visibility) == 3)
    assert queue.deleted == ["h0"]
    # Third receive: released for 1 * 2**2 seconds, then SQS's redrive policy takes over.
    assert queue.visibility == {"h1": 4, "h2": 4, "h3": 4}


async def test_a_database_outage_retries_in_place_without_releasing_the_message() -> None:
    queue = FakeQueue([("THING_HAPPENED", body())])
    attempts: list[uuid.UUID] = []

    async def handle(envelope: Envelope) -> None:
        attempts.append(envelope.id)
        if len(attempts) < 3:
            raise ServiceUnavailable("the database is not reachable yet")

    consumer = SqsConsumer(queue, "url/q", {"THING_HAPPENED": handle})
    await run_until(consumer, lambda: queue.deleted == ["h0"])
    assert len(attempts) == 3
    assert queue.visibility == {}


async def test_receive_errors_back_off_and_polling_goes_on() -> None:
    queue = FakeQueue([("THING_HAPPENED", body())], receive_errors=2)
    handled: list[uuid.UUID] = []

    async def handle(envelope: Envelope) -> None:
        handled.append(envelope.id)

    consumer = SqsConsumer(queue, "url/q", {"THING_HAPPENED": handle})
    await run_until(consumer, lambda: queue.deleted == ["h0"])
    assert queue.receives >= 3
    assert len(handled) == 1


async def test_log_lines_of_a_handler_carry_the_message_correlation_id_and_traceparent() -> None:
    envelope = Envelope(
        type="THING_HAPPENED",
        source="t",
        subject="s",
        data={},
        correlationid="from-the-envelope",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    queue = FakeQueue([("THING_HAPPENED", envelope.model_dump_json())])
    queue.pending[0]["MessageAttributes"]["correlationId"] = {"StringValue": "from-the-message"}
    seen: list[dict[str, Any]] = []

    async def handle(envelope: Envelope) -> None:
        seen.append(current_context())

    consumer = SqsConsumer(queue, "url/q", {"THING_HAPPENED": handle})
    await run_until(consumer, lambda: queue.deleted == ["h0"])
    (context,) = seen
    assert context["correlation_id"] == "from-the-message"
    assert context["traceparent"] == envelope.traceparent  # the attribute was missing
    assert context["event_id"] == str(envelope.id)
    assert context["message_id"] == "m0"
