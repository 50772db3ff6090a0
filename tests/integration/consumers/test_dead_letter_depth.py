"""The queue-depth gauge covers the dead-letter queue too, so the DeadLetterQueueNotEmpty
alert (infra/prometheus/alerts.yml) can fire: a poison message that reaches the DLQ shows as 1
under the DLQ's own name, which the alert's selector matches."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY

from shared.messaging.consumer import SqsConsumer
from tests.integration.consumers.conftest import booking_event, entry
from tests.integration.consumers.test_runtime import consuming
from tests.support.wait import eventually

ALERTS = Path(__file__).resolve().parents[3] / "infra" / "prometheus" / "alerts.yml"


def _gauge(queue: str, state: str) -> float | None:
    return REGISTRY.get_sample_value("sqs_consumer_queue_depth", {"queue": queue, "state": state})


def _dead_letter_selector() -> tuple[str, str]:
    """(metric, queue label regex) of the DeadLetterQueueNotEmpty alert's expression."""
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    rule = next(r for r in rules if r.get("alert") == "DeadLetterQueueNotEmpty")
    found = re.search(r'(\w+)\{queue=~"([^"]+)"\}', rule["expr"])
    assert found, rule["expr"]
    return found.group(1), found.group(2)


async def test_a_poison_message_in_the_dead_letter_queue_shows_on_the_depth_gauge(
    make_queue: Any, sqs: Any
) -> None:
    queue = await make_queue()
    name, dlq_name = queue.url.rsplit("/", 1)[-1], queue.dlq_url.rsplit("/", 1)[-1]
    poison = {
        **entry(booking_event("BOOKING_CREATED", provider_id="p", user_id="u")),
        "MessageBody": "{not an envelope",
    }
    await queue.send_raw([poison])

    async def nothing(envelope: object) -> None:
        raise AssertionError("a malformed message never reaches a handler")

    consumer = SqsConsumer(
        sqs,
        queue.url,
        {"BOOKING_CREATED": nothing},
        concurrency=2,
        wait_time=1,
        retry_base=0,
        depth_interval=0.2,
    )
    async with consuming(consumer) as task:

        async def gauge_shows_the_dead_letter() -> bool:
            return (
                _gauge(dlq_name, "visible") == 1
                and _gauge(name, "visible") == 0
                and _gauge(name, "in_flight") == 0
            )

        await eventually(gauge_shows_the_dead_letter, timeout=30, what="DLQ depth 1 on /metrics")
        assert not task.done()
    assert await queue.dead_letters() == 1
    metric, selector = _dead_letter_selector()
    assert metric == "sqs_consumer_queue_depth"
    assert re.fullmatch(selector, dlq_name) and not re.fullmatch(selector, name)
