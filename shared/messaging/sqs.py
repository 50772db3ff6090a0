"""SQS: client factory, outbox publisher (SendMessageBatch) and queue provisioning."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aioboto3
from aiobotocore.config import AioConfig

from shared.config import Settings
from shared.logging import get_logger
from shared.messaging.destinations import PROVIDER_EVENTS, USER_NOTICES
from shared.messaging.outbox import OutboxMessage

log = get_logger(__name__)

SQS_MAX_BATCH = 10
RETENTION_SECONDS = 4 * 24 * 3600
VISIBILITY_TIMEOUT = 30
MAX_RECEIVE_COUNT = 5
PUBLISH_CONNECT_TIMEOUT = 2.0
PUBLISH_READ_TIMEOUT = 5.0


def queue_urls(settings: Settings) -> dict[str, str]:
    return {
        PROVIDER_EVENTS: settings.sqs_booking_request_queue_url,
        USER_NOTICES: settings.sqs_booking_confirmation_queue_url,
    }


KEYS = {"aws_access_key_id", "aws_secret_access_key"}


def session_arguments(settings: Settings) -> dict[str, str]:
    """The region, and the access keys unless the suite talks to real AWS (no
    SQS_ENDPOINT_URL) without keys set: there the default credential chain applies (a pod's
    identity, a profile, an instance role) instead of the local server's placeholder keys."""
    arguments = {"region_name": settings.aws_region}
    if settings.sqs_endpoint_url or KEYS & settings.model_fields_set:
        arguments |= {key: getattr(settings, key) for key in sorted(KEYS)}
    return arguments


@asynccontextmanager
async def sqs_client(
    settings: Settings,
    *,
    max_pool_connections: int = 10,
    read_timeout: float = 10.0,
    connect_timeout: float = 3.0,
    max_attempts: int = 2,
) -> AsyncIterator[Any]:
    """An SQS client. Long pollers need `read_timeout` above their WaitTimeSeconds."""
    session = aioboto3.Session(**session_arguments(settings))
    config = AioConfig(
        max_pool_connections=max_pool_connections,
        read_timeout=read_timeout,
        connect_timeout=connect_timeout,
        retries={"max_attempts": max_attempts, "mode": "standard"},
    )
    async with session.client(
        "sqs", endpoint_url=settings.sqs_endpoint_url or None, config=config
    ) as client:
        yield client


@asynccontextmanager
async def sqs_publishers(
    settings: Settings, destinations: Sequence[str]
) -> AsyncIterator[dict[str, SqsPublisher]]:
    """One SqsPublisher for `destinations` (outbox relays), with short timeouts: a dead or
    slow SQS fails a publish fast, and the rows are retried later."""
    async with sqs_client(
        settings,
        connect_timeout=PUBLISH_CONNECT_TIMEOUT,
        read_timeout=PUBLISH_READ_TIMEOUT,
        max_attempts=1,
    ) as client:
        publisher = SqsPublisher(client, queue_urls(settings))
        yield dict.fromkeys(destinations, publisher)


def message_attributes(attributes: dict[str, str]) -> dict[str, Any]:
    return {
        name: {"DataType": "String", "StringValue": value}
        for name, value in attributes.items()
        if value
    }


class SqsPublisher:
    """Publishes outbox rows with SendMessageBatch; reports per-message failures."""

    max_batch = SQS_MAX_BATCH

    def __init__(self, client: Any, urls: dict[str, str]) -> None:
        self.client = client
        self.urls = urls

    async def publish(self, destination: str, messages: list[OutboxMessage]) -> dict[int, str]:
        entries = [
            {
                "Id": str(message.id),
                "MessageBody": json.dumps(message.body),
                "MessageAttributes": message_attributes(message.attributes),
            }
            for message in messages
        ]
        response = await self.client.send_message_batch(
            QueueUrl=self.urls[destination], Entries=entries
        )
        return {
            int(failure["Id"]): f"{failure.get('Code')}: {failure.get('Message')}"
            for failure in response.get("Failed", [])
        }


async def provision_queues(client: Any, urls: list[str]) -> dict[str, str]:
    """Create each queue and its dead-letter queue (idempotent). Return {name: url}."""
    created = {}
    for url in urls:
        name = url.rstrip("/").rsplit("/", 1)[-1]
        dlq = await client.create_queue(
            QueueName=f"{name}-dlq",
            Attributes={"MessageRetentionPeriod": str(RETENTION_SECONDS)},
        )
        dlq_arn = (
            await client.get_queue_attributes(QueueUrl=dlq["QueueUrl"], AttributeNames=["QueueArn"])
        )["Attributes"]["QueueArn"]
        queue = await client.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": str(VISIBILITY_TIMEOUT),
                "MessageRetentionPeriod": str(RETENTION_SECONDS),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
                ),
            },
        )
        created[name] = queue["QueueUrl"]
        created[f"{name}-dlq"] = dlq["QueueUrl"]
        log.info("queue ready", queue=name, url=queue["QueueUrl"], dead_letter=dlq["QueueUrl"])
    return created
