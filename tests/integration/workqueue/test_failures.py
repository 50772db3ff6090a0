"""Failures: retries with backoff, the failed set and the CLI, broker connection cuts."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from shared.config import Settings
from shared.messaging.outbox import OutboxMessage
from shared.workqueue import Job, NewJob, RetryPolicy, Worker, WorkQueue, create_work_queue
from shared.workqueue.publisher import WorkQueuePublisher
from tests.integration.workqueue.test_delivery import running
from tests.support.proxy import TcpProxy
from tests.support.wait import eventually

ROOT = Path(__file__).resolve().parents[3]


def cli(settings: Settings, *args: str) -> tuple[int, object]:
    """The operator's command, run as a real process."""
    env = {
        **os.environ,
        "WORK_QUEUE_BACKEND": settings.work_queue_backend,
        "WORK_QUEUE_NAME": settings.work_queue_name,
        "REDIS_URL": settings.redis_url,
        "AMQP_URL": settings.amqp_url,
    }
    done = subprocess.run(
        [sys.executable, "-m", "shared.workqueue.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else done.stderr


async def test_a_failing_job_backs_off_lands_in_the_failed_set_and_a_cli_retry_succeeds(
    queue: WorkQueue, queue_settings: Settings
) -> None:
    attempts: list[float] = []
    healthy = False

    async def flaky(job: Job) -> None:
        attempts.append(time.monotonic())
        if not healthy:
            raise RuntimeError("the payment provider is down")

    policy = RetryPolicy(max_attempts=4, base=0.2, cap=5.0, jitter=0.25)
    worker = Worker(queue, {"charge": flaky}, retry={"charge": policy})
    await queue.enqueue("charge", {"order": 7}, job_id="charge-7")
    async with running(worker):
        await eventually(lambda: _failed(queue, 1), timeout=20, what="the job to fail for good")
        assert len(attempts) == 4
        gaps = [b - a for a, b in itertools.pairwise(attempts)]
        # Backoff 0.2, 0.4, 0.8 s (each at least 75 % of that): every wait longer than the last.
        assert gaps[0] >= 0.15 and gaps[1] > gaps[0] and gaps[2] > gaps[1], gaps

        code, failed = cli(queue_settings, "failed")
        assert code == 0
        assert [(j["id"], j["error"]) for j in failed] == [  # type: ignore[union-attr]
            ("charge-7", "RuntimeError: the payment provider is down")
        ]
        code, job = cli(queue_settings, "inspect", "charge-7")
        assert code == 0
        assert job["payload"] == {"order": 7}  # type: ignore[index]
        assert "Traceback" in job["traceback"]  # type: ignore[index]
        assert [h["attempt"] for h in job["history"]] == [1, 2, 3, 4]  # type: ignore[index]

        healthy = True
        code, _ = cli(queue_settings, "retry", "charge-7")
        assert code == 0
        await eventually(lambda: _len(attempts, 5), timeout=10, what="the retried job to run")
        await eventually(lambda: _failed(queue, 0), what="the failed set to empty")
    code, status = cli(queue_settings, "status")
    assert code == 0 and status["failed"] == 0  # type: ignore[index]
    assert cli(queue_settings, "retry", "no-such-job")[0] == 1


async def test_a_worker_rides_out_a_broker_connection_cut_and_finishes_every_job(
    queue: WorkQueue, queue_settings: Settings
) -> None:
    """The worker reaches the broker through a proxy; cutting every connection and refusing
    new ones for a while is, to the client, the broker restarting."""
    target = urlsplit(
        queue_settings.redis_url if queue.backend == "redis" else queue_settings.amqp_url
    )
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 0).start()
    netloc = target.netloc.replace(f"{target.hostname}:{target.port}", f"127.0.0.1:{proxy.port}")
    url = urlunsplit(target._replace(netloc=netloc))
    key = "redis_url" if queue.backend == "redis" else "amqp_url"
    via_proxy = create_work_queue(queue_settings.model_copy(update={key: url}))
    seen: set[str] = set()

    async def handle(job: Job) -> None:
        await asyncio.sleep(0.01)
        seen.add(job.id)

    ids = [f"j{i}" for i in range(600)]
    await queue.enqueue_many([NewJob("work", {}, job_id=i) for i in ids])
    try:
        async with running(Worker(via_proxy, {"work": handle}, concurrency=8, heartbeat=0.3)):
            await eventually(lambda: _len(seen, 100), timeout=20, what="work to start")
            await proxy.down()
            during = len(seen)
            await asyncio.sleep(1.0)  # the outage lasts a while: nothing to wait for
            await proxy.up()
            await eventually(lambda: _len(seen, len(ids)), timeout=40, what="every job")
            # Delivery is at least once: the attempts whose acks the cut lost run again, so
            # copies may still wait once every id has run; the worker must settle them too.
            await eventually(lambda: _settled(queue), timeout=20, what="every job settled")
        assert during < len(ids)  # the cut happened mid-run
        assert seen == set(ids)
    finally:
        await via_proxy.close()
        await proxy.close()


async def _failed(queue: WorkQueue, expected: int) -> bool:
    return (await queue.status())["failed"] == expected


async def _settled(queue: WorkQueue) -> bool:
    counts = await queue.status()
    return counts["waiting"] == 0 and counts["delayed"] == 0 and counts["active"] in (0, None)


async def _len(items: object, expected: int) -> bool:
    return len(items) >= expected  # type: ignore[arg-type]


async def test_publishing_a_job_that_failed_for_good_runs_it_again(queue: WorkQueue) -> None:
    """The checkout reconciler re-publishes a pending checkout's job under the same id: a job
    that exhausted its attempts runs again, one still waiting is not duplicated."""
    runs: list[str] = []
    healthy = False

    async def reward(job: Job) -> None:
        runs.append(job.id)
        if not healthy:
            raise RuntimeError("database down")

    def row(n: int) -> OutboxMessage:
        return OutboxMessage(n, "jobs", f"m-{n}", "reward", {"n": n}, {"jobId": "tx-1"})

    publisher = WorkQueuePublisher(queue)
    worker = Worker(queue, {"reward": reward}, retry={"reward": RetryPolicy(max_attempts=1)})
    assert await publisher.publish("jobs", [row(1)]) == {}
    async with running(worker):
        await eventually(lambda: _failed(queue, 1), timeout=20, what="the job to fail for good")
        healthy = True
        assert await publisher.publish("jobs", [row(2)]) == {}
        await eventually(lambda: _len(runs, 2), timeout=10, what="the job to run again")
        await eventually(lambda: _failed(queue, 0), what="the failed set to empty")
    assert runs == ["tx-1", "tx-1"]
