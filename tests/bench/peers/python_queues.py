"""One run of a Python work queue peer with no-op jobs, in a process of its own (run by
tests/bench/bench_queue_peers.py with .bench/venv's Python):

    python python_queues.py arq|saq|taskiq REDIS_URL JOBS CONCURRENCY

Enqueues JOBS jobs (none of these libraries has a batch enqueue: CONCURRENCY calls at a time),
then one worker in this process, one asyncio loop, runs them with CONCURRENCY at once, keeping
no completed job. Prints {"enqueue": jobs/s, "process": jobs/s}.
"""

import asyncio
import json
import sys
import time
import uuid


async def _in_chunks(calls, size):
    for start in range(0, len(calls), size):
        await asyncio.gather(*(call() for call in calls[start : start + size]))


async def arq(url, jobs, concurrency):
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.worker import Worker, func

    name = f"bench-arq-{uuid.uuid4().hex[:8]}"
    pool = await create_pool(RedisSettings.from_dsn(url))

    async def noop(ctx):
        return None

    started = time.perf_counter()
    await _in_chunks([lambda: pool.enqueue_job("noop", _queue_name=name)] * jobs, concurrency)
    enqueue = jobs / (time.perf_counter() - started)
    worker = Worker(
        functions=[func(noop, name="noop", keep_result=0)],
        redis_pool=pool, queue_name=name, max_jobs=concurrency, burst=True,
        keep_result=0, poll_delay=0.005, handle_signals=False,
    )  # fmt: skip
    started = time.perf_counter()
    await worker.async_run()
    process = jobs / (time.perf_counter() - started)
    if worker.jobs_complete != jobs:
        raise SystemExit(f"arq completed {worker.jobs_complete} of {jobs}")
    await worker.close()
    return enqueue, process


async def saq(url, jobs, concurrency):
    from saq import Queue, Worker

    queue = Queue.from_url(url, name=f"bench-saq-{uuid.uuid4().hex[:8]}")
    done = asyncio.Event()
    count = 0

    async def noop(ctx):
        nonlocal count
        count += 1
        if count == jobs:
            done.set()

    await queue.connect()
    started = time.perf_counter()
    await _in_chunks([lambda: queue.enqueue("noop", ttl=-1)] * jobs, concurrency)
    enqueue = jobs / (time.perf_counter() - started)
    worker = Worker(queue, functions=[("noop", noop)], concurrency=concurrency)
    started = time.perf_counter()
    task = asyncio.create_task(worker.start())
    await asyncio.wait_for(done.wait(), 600)
    process = jobs / (time.perf_counter() - started)
    await worker.stop()
    task.cancel()
    await queue.disconnect()
    return enqueue, process


async def taskiq(url, jobs, concurrency):
    from taskiq.api import run_receiver_task
    from taskiq_redis import ListQueueBroker

    broker = ListQueueBroker(url, queue_name=f"bench-taskiq-{uuid.uuid4().hex[:8]}")
    done = asyncio.Event()
    count = 0

    @broker.task
    async def noop():
        nonlocal count
        count += 1
        if count == jobs:
            done.set()

    await broker.startup()
    started = time.perf_counter()
    await _in_chunks([noop.kiq] * jobs, concurrency)
    enqueue = jobs / (time.perf_counter() - started)
    broker.is_worker_process = True
    started = time.perf_counter()
    task = asyncio.create_task(run_receiver_task(broker, max_async_tasks=concurrency))
    await asyncio.wait_for(done.wait(), 600)
    process = jobs / (time.perf_counter() - started)
    task.cancel()
    await broker.shutdown()
    return enqueue, process


PEERS = {"arq": arq, "saq": saq, "taskiq": taskiq}

if __name__ == "__main__":
    peer, redis_url, count, width = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    rates = asyncio.run(PEERS[peer](redis_url, count, width))
    print(json.dumps({"enqueue": rates[0], "process": rates[1]}))
