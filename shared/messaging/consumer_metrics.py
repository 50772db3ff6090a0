"""Metrics of the SQS consumer runtime, and the task that polls queue depth from SQS."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from shared.logging import get_logger
from shared.messaging.deadletter import dead_letter_url

log = get_logger(__name__)

RECEIVED = Counter("sqs_consumer_received_total", "Messages received", ["queue"])
RETRIED = Counter(
    "sqs_consumer_retried_total", "Messages received again (receive count above 1)", ["queue"]
)
HANDLED = Counter("sqs_consumer_handled_total", "Messages handled", ["queue", "event_type"])
FAILED = Counter(
    "sqs_consumer_failed_total",
    "Messages released after a failure (left to the redrive policy)",
    ["queue", "event_type", "reason"],
)
TRANSIENT = Counter(
    "sqs_consumer_transient_retries_total",
    "Handler retries in place while the database is unreachable",
    ["queue"],
)
POLL_ERRORS = Counter("sqs_consumer_poll_errors_total", "Failed receive calls", ["queue"])
IN_FLIGHT = Gauge("sqs_consumer_in_flight", "Messages being handled", ["queue"])
LATENCY = Histogram(
    "sqs_consumer_handler_seconds",
    "Handler latency",
    ["queue", "event_type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
AGE = Histogram(
    "sqs_consumer_message_age_seconds",
    "Age of a message when it is received",
    ["queue"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400),
)
DEPTH = Gauge("sqs_consumer_queue_depth", "Messages in the queue, from SQS", ["queue", "state"])

DEPTH_ATTRIBUTES = {
    "ApproximateNumberOfMessages": "visible",
    "ApproximateNumberOfMessagesNotVisible": "in_flight",
    "ApproximateNumberOfMessagesDelayed": "delayed",
}


async def poll_depth(client: Any, queue_url: str, queue: str, interval: float) -> None:
    """Publish the depth of the queue and of its dead-letter queue (the one its RedrivePolicy
    names, labelled with that queue's name) every `interval` seconds, forever."""
    dead_letters: str | None = None
    while True:
        try:
            if dead_letters is None:
                dead_letters = await _dead_letter_queue(client, queue_url)
            await _publish_depth(client, queue_url, queue)
            if dead_letters:
                await _publish_depth(client, dead_letters, dead_letters.rsplit("/", 1)[-1])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("queue depth unavailable", queue=queue, error=repr(exc))
        await asyncio.sleep(interval)


async def _dead_letter_queue(client: Any, queue_url: str) -> str:
    """The dead-letter queue's URL, or "" when the queue has no redrive policy."""
    try:
        return await dead_letter_url(client, queue_url)
    except ValueError:
        log.warning("queue has no dead-letter queue; its depth is not polled", queue_url=queue_url)
        return ""


async def _publish_depth(client: Any, queue_url: str, queue: str) -> None:
    response = await client.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=list(DEPTH_ATTRIBUTES)
    )
    for name, state in DEPTH_ATTRIBUTES.items():
        value = response.get("Attributes", {}).get(name)
        if value is not None:
            DEPTH.labels(queue, state).set(int(value))
