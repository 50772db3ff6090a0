"""Forged messages on a real SQS queue: an `eventType` attribute that disagrees with the
envelope's `type`, or a body that is no envelope, is never routed to a handler; it is left to
the redrive policy (dead-lettered), logged and counted, and the consumer keeps running."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from shared.events.envelope import Envelope
from shared.logging import current_context
from shared.messaging import handling
from shared.messaging.consumer import SqsConsumer
from tests.integration.consumers.conftest import booking_event, entry
from tests.support.wait import eventually


@contextlib.asynccontextmanager
async def consuming(consumer: SqsConsumer) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(consumer.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def failures(queue_url: str, event_type: str, reason: str) -> float:
    labels = {"queue": queue_url.rsplit("/", 1)[-1], "event_type": event_type, "reason": reason}
    return REGISTRY.get_sample_value("sqs_consumer_failed_total", labels) or 0.0


class LogLines:
    """Stands in for the logger of message handling: keeps each line with the context bound
    to it (the process-wide logging setup belongs to whichever test configured it last)."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def __getattr__(self, level: str) -> Any:
        def write(event: str, **fields: Any) -> None:
            self.lines.append({**current_context(), **fields, "event": event, "level": level})

        return write


def forged_entry(body_type: str, attribute: str) -> dict[str, Any]:
    """A message whose attribute says `attribute` while its envelope says `body_type`."""
    envelope = booking_event(body_type, provider_id="provider-1", user_id="user-1")
    forged = entry(envelope)
    forged["MessageAttributes"]["eventType"]["StringValue"] = attribute
    return forged


@pytest.mark.parametrize(
    ("forged", "reason"),
    [
        (forged_entry("BOOKING_CREATED", "BOOKING_CANCELLED"), "type_mismatch"),
        (forged_entry("BOOKING_EXPIRED", "BOOKING_CREATED"), "type_mismatch"),
        ({**forged_entry("BOOKING_CREATED", "BOOKING_CREATED"), "MessageBody": "{}"}, "malformed"),
        (
            {
                **forged_entry("BOOKING_CREATED", "BOOKING_CANCELLED"),
                "MessageBody": json.dumps({"type": "BOOKING_CANCELLED", "data": []}),
            },
            "malformed",
        ),
    ],
)
async def test_a_forged_message_reaches_no_handler_and_is_dead_lettered(
    make_queue: Any, sqs: Any, monkeypatch: pytest.MonkeyPatch, forged: Any, reason: str
) -> None:
    logged = LogLines()
    monkeypatch.setattr(handling, "log", logged)
    queue = await make_queue()
    calls: list[tuple[str, uuid.UUID]] = []

    def recorder(name: str) -> Any:
        async def handle(envelope: Envelope) -> None:
            calls.append((name, envelope.id))

        return handle

    routes = {name: recorder(name) for name in ("BOOKING_CREATED", "BOOKING_CANCELLED")}
    attribute = forged["MessageAttributes"]["eventType"]["StringValue"]
    before = failures(queue.url, attribute, reason)
    consumer = SqsConsumer(sqs, queue.url, routes, concurrency=5, wait_time=1, retry_base=0)
    async with consuming(consumer) as task:
        await queue.send_raw([forged])
        await eventually(queue.dead_letters, timeout=30, what="the forged message dead-lettered")
        assert calls == []
        # The consumer is still running: a genuine message after it is handled.
        genuine = booking_event("BOOKING_CANCELLED", provider_id="provider-1", user_id="user-1")
        await queue.send([genuine])
        await eventually(lambda: _handled(calls), timeout=20, what="the genuine message handled")
        await eventually(queue.empty, timeout=20, what="the genuine message deleted")
        assert not task.done()
    assert calls == [("BOOKING_CANCELLED", genuine.id)]
    # Each of its five receives was refused, counted and logged under its reason.
    assert failures(queue.url, attribute, reason) - before == 5
    refused = [line for line in logged.lines if line.get("reason") == reason]
    assert len(refused) == 5
    assert all(line["level"] == "error" and line["event_type"] == attribute for line in refused)


async def _handled(calls: list[Any]) -> bool:
    return bool(calls)
