"""Wiring of an SQS consumer into an aiohttp application (its life cycle and readiness)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from shared.config import Settings
from shared.http.app import add_readiness_check
from shared.http.lifecycle import run_continuous
from shared.messaging.consumer import Routes, SqsConsumer, queue_name
from shared.messaging.sqs import sqs_client


def use_consumer(
    app: web.Application,
    settings: Settings,
    *,
    name: str,
    queue_url: str,
    routes: Callable[[web.Application], Routes],
) -> None:
    """Consume `queue_url` for the application's life with handlers built by `routes(app)`.

    /readyz gains an `sqs` check (the queue answers) and the loop's own liveness check.
    """
    concurrency = settings.consumer_concurrency
    opened: dict[str, Any] = {}

    async def loop(app: web.Application) -> None:
        async with sqs_client(
            settings,
            max_pool_connections=concurrency + 5,  # poller, heartbeat, deleter, depth, spare
            read_timeout=settings.consumer_wait_time + 10,
        ) as client:
            opened["client"] = client
            consumer = SqsConsumer(
                client,
                queue_url,
                routes(app),
                concurrency=concurrency,
                wait_time=settings.consumer_wait_time,
                retry_base=settings.consumer_retry_base,
                shutdown_grace=settings.shutdown_grace,
                depth_interval=settings.consumer_queue_depth_interval,
            )
            try:
                await consumer.run()
            finally:
                opened.clear()

    async def queue_answers() -> None:
        client = opened.get("client")
        if client is None:
            raise RuntimeError("the SQS client is not open")
        await client.get_queue_url(QueueName=queue_name(queue_url))

    # A stop cancels the consumer, which drains its handlers within the grace and returns.
    run_continuous(app, name, loop, stop_timeout=settings.shutdown_grace + 15)
    add_readiness_check(app, "sqs", queue_answers)
