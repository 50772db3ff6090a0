"""Wiring of reward_worker: database, work queue, the worker loop, the outbox relay of reward
notices to SQS, and the queue dashboard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from aiohttp import web

from services.reward_worker import dashboard
from services.reward_worker.domain import RewardRules
from services.reward_worker.handlers import JOB_TYPE, reward_handler
from services.reward_worker.storage import SCHEMA
from shared.config import Settings
from shared.http.app import add_readiness_check, create_base_app
from shared.http.lifecycle import DATABASE, run_in_background, use_database
from shared.logging import get_logger
from shared.messaging.outbox import OutboxRelay
from shared.messaging.sqs import BOOKING_CONFIRMATION, SqsPublisher, queue_urls, sqs_client
from shared.workqueue import RetryPolicy, Worker, WorkQueue, create_work_queue
from shared.workqueue.status import track_queue_gauges

log = get_logger(__name__)

SERVICE = "reward_worker"
CleanupContext = Callable[[web.Application], AsyncIterator[None]]
QUEUE = web.AppKey("work_queue", WorkQueue)
WORKER = web.AppKey("worker", Worker)


def rules_from(settings: Settings) -> RewardRules:
    return RewardRules(
        percentages=tuple(settings.reward_percentages),
        thresholds=tuple(settings.reward_level_thresholds),
        rates=tuple(settings.reward_level_rates),
    )


def create_app(settings: Settings) -> web.Application:
    app = create_base_app(SERVICE, settings)
    use_database(app, settings)
    app.cleanup_ctx.append(_work_queue(settings))

    async def broker() -> None:
        await app[QUEUE].ping()

    add_readiness_check(app, "workqueue", broker)
    app.cleanup_ctx.append(_worker(settings))
    run_in_background(app, "reward-notice-relay", _relay(settings))
    run_in_background(app, "queue-gauges", lambda app: track_queue_gauges(app[QUEUE]))
    dashboard.setup(app, QUEUE)
    return app


def _work_queue(settings: Settings) -> CleanupContext:
    async def work_queue(app: web.Application) -> AsyncIterator[None]:
        queue = create_work_queue(settings)
        app[QUEUE] = queue
        yield
        await queue.close()

    return work_queue


def _worker(settings: Settings) -> CleanupContext:
    async def worker(app: web.Application) -> AsyncIterator[None]:
        db = app[DATABASE]
        policy = RetryPolicy(
            max_attempts=settings.work_queue_max_attempts,
            base=settings.work_queue_backoff_base,
            cap=settings.work_queue_backoff_cap,
        )
        app[WORKER] = worker = Worker(
            app[QUEUE],
            {JOB_TYPE: reward_handler(db, rules_from(settings))},
            concurrency=settings.work_queue_concurrency,
            retry={JOB_TYPE: policy},
            heartbeat=max(0.1, settings.work_queue_visibility_timeout / 3),
            shutdown_grace=settings.shutdown_grace,
        )

        async def run() -> None:
            await db.wait_ready()
            await worker.run()

        task = asyncio.create_task(run(), name="reward-worker")

        async def alive() -> None:
            if task.done():
                raise RuntimeError("the worker loop has stopped")

        add_readiness_check(app, "loop:worker", alive)
        yield
        await worker.stop()
        try:
            await asyncio.wait_for(task, settings.shutdown_grace + 5)
        except TimeoutError:
            log.error("worker did not stop in time")

    return worker


def _relay(settings: Settings) -> Callable[[web.Application], Coroutine[Any, Any, None]]:
    async def relay(app: web.Application) -> None:
        async with sqs_client(settings) as client:
            publisher = SqsPublisher(client, queue_urls(settings))
            relay = OutboxRelay(
                app[DATABASE],
                SCHEMA,
                {BOOKING_CONFIRMATION: publisher},
                poll_interval=settings.outbox_poll_interval,
            )
            try:
                await relay.run()
            finally:
                await relay.close()

    return relay
