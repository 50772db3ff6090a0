"""Attempts that end badly, the same on both backends: dead workers, cut connections."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit, urlunsplit

from shared.config import Settings
from shared.workqueue import Job, RetryPolicy, Worker, WorkQueue, create_work_queue
from tests.integration.workqueue.test_delivery import running
from tests.support.proxy import TcpProxy
from tests.support.wait import eventually


async def test_a_job_that_kills_its_worker_every_time_ends_in_the_failed_set(
    queue: WorkQueue, queue_settings: Settings
) -> None:
    """Each dead worker is a client that claims the job and disappears without settling it,
    as a process killed by the job would: every such claim counts as an attempt."""
    await queue.enqueue("poison", {}, job_id="poison-1")
    for _ in range(3):
        dead = create_work_queue(queue_settings)
        try:
            await eventually(lambda d=dead: d.claim(1, 0.2), timeout=15, what="the job again")
        finally:
            await dead.close()
    ran: list[int] = []

    async def handle(job: Job) -> None:
        ran.append(job.attempt)

    worker = Worker(queue, {"poison": handle}, retry={"poison": RetryPolicy(max_attempts=3)})
    async with running(worker):
        await eventually(lambda: _failed(queue, 1), timeout=15, what="the job to fail for good")
    assert ran == []  # three claims were its three attempts: it is not run a fourth time
    (failed,) = await queue.failed()
    assert failed["id"] == "poison-1" and "attempts exhausted" in failed["error"]


async def test_after_a_reconnect_under_load_the_worker_again_runs_its_full_concurrency(
    queue: WorkQueue, queue_settings: Settings
) -> None:
    """Three of four slots are busy when the connection is cut, so the worker reconnects
    with one slot free; once they finish, four jobs must run at once again."""
    proxy, via_proxy = await _through_proxy(queue, queue_settings)
    release = asyncio.Event()
    held: list[str] = []
    probes: list[str] = []
    current = peak = 0

    async def hold(job: Job) -> None:
        if job.attempt == 1:  # a copy redelivered after the cut has nothing to wait for
            held.append(job.id)
            await release.wait()

    async def probe(job: Job) -> None:
        probes.append(job.id)

    async def wide(job: Job) -> None:
        nonlocal current, peak
        current += 1
        peak = max(peak, current)
        try:
            await eventually(lambda: _true(current >= 4), timeout=2, what="four at once")
        except AssertionError:
            pass  # the peak tells
        finally:
            current -= 1

    handlers = {"hold": hold, "probe": probe, "wide": wide}
    try:
        async with running(Worker(via_proxy, handlers, concurrency=4, heartbeat=0.3)):
            for i in range(3):
                await queue.enqueue("hold", {}, job_id=f"hold-{i}")
            await eventually(lambda: _true(len(held) == 3), what="three slots busy")
            await proxy.down()
            await proxy.up()
            await queue.enqueue("probe", {}, job_id="probe")
            await eventually(lambda: _true(probes == ["probe"]), timeout=15, what="a reconnect")
            release.set()
            for i in range(4):
                await queue.enqueue("wide", {}, job_id=f"wide-{i}")
            await eventually(lambda: _true(peak == 4), timeout=15, what="four jobs at once")
    finally:
        await via_proxy.close()
        await proxy.close()


async def _through_proxy(queue: WorkQueue, settings: Settings) -> tuple[TcpProxy, WorkQueue]:
    key = "redis_url" if queue.backend == "redis" else "amqp_url"
    target = urlsplit(getattr(settings, key))
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 0).start()
    netloc = target.netloc.replace(f"{target.hostname}:{target.port}", f"127.0.0.1:{proxy.port}")
    url = urlunsplit(target._replace(netloc=netloc))
    return proxy, create_work_queue(settings.model_copy(update={key: url}))


async def _failed(queue: WorkQueue, expected: int) -> bool:
    return (await queue.status())["failed"] == expected


async def _true(value: bool) -> bool:
    return value
