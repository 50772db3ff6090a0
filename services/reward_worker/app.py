"""Wiring of reward_worker: database, work queue, and its background loops (the worker, the
outbox relay of reward notices to SQS, the queue gauges), plus the queue dashboard."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from services.reward_worker import dashboard
from services.reward_worker.domain import RewardRules
from services.reward_worker.handlers import job_handlers
from services.reward_worker.typedefs import QUEUE, SCHEMA, SERVICE
from shared.background import Loop
from shared.config import Settings
from shared.http.app import SETTINGS, add_readiness_check, create_base_app
from shared.http.lifecycle import DATABASE, run_loop, run_periodic, use_database
from shared.logging import get_logger
from shared.messaging.destinations import USER_NOTICES
from shared.messaging.outbox_app import use_outbox_relay
from shared.messaging.sqs import sqs_publishers
from shared.workqueue import QueueUnavailable, RetryPolicy, Worker, create_work_queue
from shared.workqueue.status import GAUGE_INTERVAL, update_queue_gauges

log = get_logger(__name__)


def rules_from(settings: Settings) -> RewardRules:
    return RewardRules(
        percentages=tuple(settings.reward_percentages),
        thresholds=tuple(settings.reward_level_thresholds),
        rates=tuple(settings.reward_level_rates),
    )


def create_app(settings: Settings) -> web.Application:
    app = create_base_app(SERVICE, settings)
    use_database(app, settings)
    app.cleanup_ctx.append(_work_queue)

    async def broker() -> None:
        await app[QUEUE].ping()

    add_readiness_check(app, "workqueue", broker)
    run_loop(app, "worker", _worker_loop)
    use_outbox_relay(app, SCHEMA, [USER_NOTICES], sqs_publishers, name="reward-notice-relay")
    run_periodic(
        app,
        "queue-gauges",
        lambda app: update_queue_gauges(app[QUEUE]),
        interval=GAUGE_INTERVAL,
    )
    dashboard.setup(app, QUEUE)
    return app


async def _work_queue(app: web.Application) -> AsyncIterator[None]:
    queue = create_work_queue(app[SETTINGS])
    try:
        # A broker that may drop jobs on its own refuses the start (the error names the
        # setting); one that does not answer yet is checked again by the worker loop.
        await queue.verify()
    except QueueUnavailable as exc:
        log.warning("work queue broker not reachable at start; checked later", error=str(exc))
    except BaseException:
        await queue.close()
        raise
    app[QUEUE] = queue
    yield
    await queue.close()


def _worker_loop(app: web.Application) -> Loop:
    """The worker as a continuous loop; a run that fails starts again with a fresh Worker."""
    settings = app[SETTINGS]
    policy = RetryPolicy(
        max_attempts=settings.work_queue_max_attempts,
        base=settings.work_queue_backoff_base,
        cap=settings.work_queue_backoff_cap,
    )
    handlers = job_handlers(app[DATABASE], rules_from(settings))
    current: list[Worker] = []

    async def run() -> None:
        with contextlib.suppress(QueueUnavailable):  # the worker waits out an outage itself
            await app[QUEUE].verify()
        worker = Worker(
            app[QUEUE],
            handlers,
            concurrency=settings.work_queue_concurrency,
            retry=dict.fromkeys(handlers, policy),
            heartbeat=max(0.1, settings.work_queue_visibility_timeout / 3),
            shutdown_grace=settings.shutdown_grace,
            default_deadline=settings.work_queue_job_timeout,
        )
        current[:] = [worker]
        await worker.run()

    async def stop() -> None:
        for worker in current:
            await worker.stop()

    return Loop.continuous(
        "worker",
        run,
        on_stop=stop,
        start_when=app[DATABASE].wait_ready,
        stop_timeout=settings.shutdown_grace + 5,
    )
