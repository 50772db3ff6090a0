"""What the suite relies on from an SQS server, checked against a candidate local server.

Every call goes to a path-style queue URL built by hand (http://HOST:PORT/123456789012/NAME),
as the suite's settings name its queues, not to the URL the server returned.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

ACCOUNT = "123456789012"
Check = Callable[[Any, str], Awaitable[None]]


async def _queue(client: Any, endpoint: str, attributes: dict[str, str] | None = None) -> str:
    name = f"check-{uuid.uuid4().hex[:10]}"
    await client.create_queue(QueueName=name, Attributes=attributes or {})
    return f"{endpoint}/{ACCOUNT}/{name}"


async def _counts(client: Any, url: str) -> tuple[int, int]:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    got = (await client.get_queue_attributes(QueueUrl=url, AttributeNames=names))["Attributes"]
    return int(got[names[0]]), int(got[names[1]])


async def create_queue_with_attributes(client: Any, endpoint: str) -> None:
    url = await _queue(client, endpoint, {"VisibilityTimeout": "17", "DelaySeconds": "0"})
    got = await client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    assert got["Attributes"]["VisibilityTimeout"] == "17", got
    assert got["Attributes"]["QueueArn"].endswith(url.rsplit("/", 1)[1]), got


async def message_attributes(client: Any, endpoint: str) -> None:
    url = await _queue(client, endpoint)
    attrs = {"event_type": {"DataType": "String", "StringValue": "BOOKING_CONFIRMED"}}
    await client.send_message(QueueUrl=url, MessageBody="{}", MessageAttributes=attrs)
    got = await client.receive_message(QueueUrl=url, MessageAttributeNames=["All"])
    assert got["Messages"][0]["MessageAttributes"] == attrs, got


async def long_polling(client: Any, endpoint: str) -> None:
    url = await _queue(client, endpoint)
    started = time.monotonic()
    got = await client.receive_message(QueueUrl=url, WaitTimeSeconds=2)
    waited = time.monotonic() - started
    assert not got.get("Messages") and waited >= 1.8, (got, waited)

    async def send_later() -> None:
        await asyncio.sleep(0.5)
        await client.send_message(QueueUrl=url, MessageBody="late")

    started = time.monotonic()
    sender = asyncio.create_task(send_later())
    got = await client.receive_message(QueueUrl=url, WaitTimeSeconds=10)
    await sender
    waited = time.monotonic() - started
    assert got["Messages"][0]["Body"] == "late" and waited < 3, (got, waited)


async def change_visibility(client: Any, endpoint: str) -> None:
    url = await _queue(client, endpoint, {"VisibilityTimeout": "30"})
    await client.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(3)]
    )
    got = (await client.receive_message(QueueUrl=url, MaxNumberOfMessages=10))["Messages"]
    assert len(got) == 3 and await _counts(client, url) == (0, 3), got
    await client.change_message_visibility(
        QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"], VisibilityTimeout=0
    )
    entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
               for i, m in enumerate(got[1:])]  # fmt: skip
    result = await client.change_message_visibility_batch(QueueUrl=url, Entries=entries)
    assert not result.get("Failed"), result
    again = (await client.receive_message(QueueUrl=url, MaxNumberOfMessages=10))["Messages"]
    assert sorted(m["Body"] for m in again) == ["0", "1", "2"], again


async def delete_batch_and_counts(client: Any, endpoint: str) -> None:
    url = await _queue(client, endpoint)
    await client.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(5)]
    )
    assert await _counts(client, url) == (5, 0)
    got = (await client.receive_message(QueueUrl=url, MaxNumberOfMessages=3))["Messages"]
    assert await _counts(client, url) == (2, 3)
    entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
    result = await client.delete_message_batch(QueueUrl=url, Entries=entries)
    assert len(result["Successful"]) == 3 and not result.get("Failed"), result
    assert await _counts(client, url) == (2, 0)


async def redrive_to_dead_letter_queue(client: Any, endpoint: str) -> None:
    dlq = await _queue(client, endpoint)
    arn = (await client.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"]))[
        "Attributes"
    ]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "2"})
    url = await _queue(client, endpoint, {"RedrivePolicy": policy})
    await client.send_message(QueueUrl=url, MessageBody="poison")
    for _ in range(2):
        got = await client.receive_message(QueueUrl=url, VisibilityTimeout=0, WaitTimeSeconds=1)
        assert got["Messages"][0]["Body"] == "poison", got
    third = await client.receive_message(QueueUrl=url, VisibilityTimeout=0, WaitTimeSeconds=1)
    assert not third.get("Messages"), third
    assert await _counts(client, dlq) == (1, 0)
    dead = await client.receive_message(
        QueueUrl=dlq, MessageSystemAttributeNames=["ApproximateReceiveCount"]
    )
    assert dead["Messages"][0]["Body"] == "poison", dead


async def get_queue_url(client: Any, endpoint: str) -> None:
    url = await _queue(client, endpoint)
    got = (await client.get_queue_url(QueueName=url.rsplit("/", 1)[1]))["QueueUrl"]
    assert got.rsplit("/", 1)[1] == url.rsplit("/", 1)[1], got


CHECKS: list[Check] = [
    create_queue_with_attributes,
    message_attributes,
    long_polling,
    change_visibility,
    delete_batch_and_counts,
    redrive_to_dead_letter_queue,
    get_queue_url,
]


async def run_checks(client: Any, endpoint: str) -> dict[str, str]:
    """{check name: "ok" or what went wrong}, one entry per check."""
    outcome = {}
    for check in CHECKS:
        try:
            await check(client, endpoint)
            outcome[check.__name__] = "ok"
        except Exception as exc:  # a failed check is a finding to report, not a crash
            outcome[check.__name__] = f"FAILED: {exc!r}"[:300]
    return outcome
