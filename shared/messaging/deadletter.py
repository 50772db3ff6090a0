"""Dead-letter queue tooling: look at what is there, move it back to its source queue.

Works with plain receive, send and delete, so it runs against any SQS server (not all have the
message-move API). A redriven message is a new SQS message with the same body and
attributes; consumers skip it if they had processed its event after all (idempotency).
Only messages whose send succeeded are deleted from the dead-letter queue.

    python -m shared.messaging.deadletter inspect QUEUE_URL [--limit N]
    python -m shared.messaging.deadletter redrive QUEUE_URL [--max N]

QUEUE_URL is the source queue; its dead-letter queue is read from its RedrivePolicy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict, dataclass
from typing import Any

from shared.config import Settings
from shared.messaging.sqs import sqs_client

SYSTEM_ATTRIBUTES = ["SentTimestamp", "ApproximateReceiveCount"]


@dataclass
class RedriveResult:
    received: int = 0
    sent: int = 0
    deleted: int = 0
    failed: int = 0


async def dead_letter_url(client: Any, queue_url: str) -> str:
    """The URL of the dead-letter queue named in the queue's RedrivePolicy."""
    response = await client.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["RedrivePolicy"]
    )
    policy = response.get("Attributes", {}).get("RedrivePolicy")
    if not policy:
        raise ValueError(f"{queue_url} has no redrive policy")
    name = json.loads(policy)["deadLetterTargetArn"].rsplit(":", 1)[-1]
    return str((await client.get_queue_url(QueueName=name))["QueueUrl"])


async def depth(client: Any, queue_url: str) -> dict[str, int]:
    response = await client.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )
    attributes = response.get("Attributes", {})
    return {
        "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
    }


async def inspect(client: Any, queue_url: str, *, limit: int = 10) -> dict[str, Any]:
    """Counts of the dead-letter queue and a sample of its messages (left in place)."""
    dlq = await dead_letter_url(client, queue_url)
    sample: dict[str, dict[str, Any]] = {}
    while len(sample) < limit:
        response = await client.receive_message(
            QueueUrl=dlq,
            MaxNumberOfMessages=min(10, limit - len(sample)),
            VisibilityTimeout=0,  # a look, not a take: the messages stay available
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=SYSTEM_ATTRIBUTES,
        )
        fresh = [m for m in response.get("Messages", []) if m["MessageId"] not in sample]
        if not fresh:
            break
        for message in fresh:
            sample[message["MessageId"]] = _describe(message)
    return {"dead_letter_queue": dlq, **await depth(client, dlq), "messages": list(sample.values())}


def _describe(message: dict[str, Any]) -> dict[str, Any]:
    attributes = {
        name: value.get("StringValue")
        for name, value in message.get("MessageAttributes", {}).items()
    }
    body = message.get("Body", "")
    return {
        "message_id": message["MessageId"],
        "event_type": attributes.get("eventType"),
        "correlation_id": attributes.get("correlationId"),
        "receive_count": int(message.get("Attributes", {}).get("ApproximateReceiveCount", 0)),
        "body": body if len(body) <= 500 else body[:500] + "...",
    }


async def redrive(client: Any, queue_url: str, *, max_messages: int | None = None) -> RedriveResult:
    """Move dead letters back to `queue_url` until the dead-letter queue answers empty."""
    dlq = await dead_letter_url(client, queue_url)
    result = RedriveResult()
    while max_messages is None or result.received < max_messages:
        wanted = 10 if max_messages is None else min(10, max_messages - result.received)
        response = await client.receive_message(
            QueueUrl=dlq,
            MaxNumberOfMessages=wanted,
            VisibilityTimeout=60,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            break
        result.received += len(messages)
        sent = await client.send_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {
                    "Id": str(i),
                    "MessageBody": m["Body"],
                    "MessageAttributes": _attributes(m),
                }
                for i, m in enumerate(messages)
            ],
        )
        ok = [messages[int(entry["Id"])] for entry in sent.get("Successful", [])]
        result.sent += len(ok)
        result.failed += len(messages) - len(ok)
        if ok:
            deleted = await client.delete_message_batch(
                QueueUrl=dlq,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(ok)
                ],
            )
            result.deleted += len(deleted.get("Successful", []))
    return result


def _attributes(message: dict[str, Any]) -> dict[str, Any]:
    """Message attributes as SendMessage takes them (without the reserved list fields)."""
    return {
        name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
        for name, value in message.get("MessageAttributes", {}).items()
    }


async def main(argv: list[str], settings: Settings | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m shared.messaging.deadletter")
    commands = parser.add_subparsers(dest="command", required=True)
    look = commands.add_parser("inspect", help="counts and a sample of the dead letters")
    look.add_argument("queue_url", help="the source queue (its DLQ comes from its redrive policy)")
    look.add_argument("--limit", type=int, default=10)
    move = commands.add_parser("redrive", help="move dead letters back to the source queue")
    move.add_argument("queue_url")
    move.add_argument("--max", type=int, default=None, dest="max_messages")
    args = parser.parse_args(argv)
    async with sqs_client(settings or Settings()) as client:
        if args.command == "inspect":
            return await inspect(client, args.queue_url, limit=args.limit)
        return asdict(await redrive(client, args.queue_url, max_messages=args.max_messages))


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1:])), indent=2))
