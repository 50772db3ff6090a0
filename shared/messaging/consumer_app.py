"""An SQS consumer as an aiohttp application: the one wiring both consumer processes use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from shared.config import Settings
from shared.http.app import add_readiness_check, create_base_app
from shared.http.lifecycle import run_continuous, use_database
from shared.http.openapi import add_openapi
from shared.messaging.consumer import SqsConsumer, queue_name
from shared.messaging.handling import EventHandlers
from shared.messaging.notifications import TEMPLATES, Templates, use_notifications
from shared.messaging.processed import use_processed_purge
from shared.messaging.sqs import sqs_client


@dataclass(frozen=True)
class ConsumerService:
    """What sets one consumer process apart from the other."""

    service: str  # the process's name
    schema: str  # the schema of its read models
    loop: str  # the name of its consumer loop in /readyz and the metrics
    queue_url: Callable[[Settings], str]  # the queue it consumes
    templates: Path  # its notification templates
    event_handlers: Callable[[web.Application], EventHandlers]  # built at start-up
    add_routes: Callable[[web.Application], None]  # its HTTP read side


def create_consumer_app(settings: Settings, spec: ConsumerService) -> web.Application:
    """The consumer's app: database, notification dispatch, the consumer loop, its read side
    and OpenAPI document, /healthz, /readyz (with an `sqs` check) and /metrics."""
    app = create_base_app(spec.service, settings)
    app[TEMPLATES] = Templates(spec.templates)
    use_database(app, settings)
    use_notifications(app, settings, spec.schema)
    use_processed_purge(app, spec.schema)
    use_consumer(
        app,
        settings,
        name=spec.loop,
        queue_url=spec.queue_url(settings),
        event_handlers=spec.event_handlers,
    )
    spec.add_routes(app)
    add_openapi(app, spec.service)
    return app


def use_consumer(
    app: web.Application,
    settings: Settings,
    *,
    name: str,
    queue_url: str,
    event_handlers: Callable[[web.Application], EventHandlers],
) -> None:
    """Consume `queue_url` for the application's life with `event_handlers(app)`.

    /readyz gains an `sqs` check (the queue answers) and the loop's own health check.
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
                event_handlers(app),
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
