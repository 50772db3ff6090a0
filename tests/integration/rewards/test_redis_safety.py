"""The worker checks the Redis it is given: one that may evict jobs refuses the start, one
that persists nothing is a loud warning and a gauge. Each case runs a private redis-server
(own port, own folder) so the machine's shared Redis is never reconfigured."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import REGISTRY

from services.reward_worker.app import create_app
from shared.config import Settings
from shared.workqueue.redis_safety import UnsafeRedis, check
from tests.support.http import serve
from tests.support.sqs_server import free_port
from tests.support.wait import eventually

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")


@contextmanager
def private_redis(*options: str) -> Iterator[str]:
    port = free_port()
    folder = tempfile.mkdtemp(prefix="redis-safety-")
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", folder]
    process = subprocess.Popen([*argv, *options], stdout=subprocess.DEVNULL)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        process.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


async def answering(url: str) -> aioredis.Redis:
    client = aioredis.from_url(url)

    async def up() -> bool:
        return bool(await client.ping())

    await eventually(up, what="the private Redis")
    return client


def gauge(name: str, queue: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"queue": queue})


async def test_a_redis_that_may_evict_jobs_refuses_the_worker_start(
    worker_settings: Settings,
) -> None:
    with private_redis("--save", "", "--maxmemory-policy", "allkeys-lru") as url:
        await (await answering(url)).aclose()
        runner = web.AppRunner(create_app(worker_settings.model_copy(update={"redis_url": url})))
        try:
            with pytest.raises(UnsafeRedis, match="maxmemory-policy allkeys-lru"):
                await runner.setup()  # the application's start-up, as the process runs it
        finally:
            await runner.cleanup()


async def test_a_redis_that_persists_nothing_is_a_warning_and_a_gauge(
    worker_settings: Settings,
) -> None:
    queue = worker_settings.work_queue_name
    with private_redis("--save", "", "--appendonly", "no") as url:
        await (await answering(url)).aclose()
        async with serve(create_app(worker_settings.model_copy(update={"redis_url": url}))) as c:
            assert (await c.get("/healthz")).status == 200
        assert gauge("workqueue_redis_persistent", queue) == 0
        assert gauge("workqueue_redis_noeviction", queue) == 1


async def test_append_only_or_snapshots_count_as_persistent() -> None:
    with private_redis("--save", "", "--appendonly", "yes") as url:
        client = await answering(url)
        try:
            assert (await check(client, "aof")).persistent
            assert gauge("workqueue_redis_persistent", "aof") == 1
            await client.config_set("appendonly", "no")
            await client.config_set("save", "3600 1")
            assert (await check(client, "rdb")).persistent
        finally:
            await client.aclose()
