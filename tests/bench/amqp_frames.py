"""AMQP frames and waited round trips per job of the RabbitMQ work queue, counted where they
leave and reach aiormq: `enqueue_many` of JOBS no-op jobs, then one worker (concurrency
200) processing them, the forgetting of their ids included. Counts do not depend on the
machine's load, unlike the rates of bench_workqueue; docs/perf/workqueue-amqp.md quotes them.

    python -m tests.bench.amqp_frames [JOBS]
    python -m tests.bench.amqp_frames --primitives [JOBS]

`--primitives` times, one after the other on one connection, what the broker does per job
for a bare loop (a persistent publish with confirms, a delivery and its ack) and what the
id registry adds (a `mandatory` probe, a binding, an unbinding), JOBS of each, eight
channels for the registry's operations as the backend uses.

The same run under py-spy gives the flame graphs of docs/perf/:
`py-spy record -o amqp.svg -- python -m tests.bench.amqp_frames 10000`.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
import uuid
from collections import Counter
from typing import Any

import aio_pika
import aiormq.channel
import pamqp.frame

from shared.config import Settings
from shared.logging import configure_logging
from shared.workqueue import NewJob, Worker
from shared.workqueue.amqp_backend import PUBLISH_WINDOW, AmqpWorkQueue
from shared.workqueue.amqp_registry import LANES
from tests.bench.bench_workqueue import countdown

SENT: Counter[str] = Counter()
RECEIVED: Counter[str] = Counter()
WAITED: Counter[str] = Counter()  # synchronous methods sent without nowait: a round trip each


def _count_frames() -> None:
    marshal, unmarshal, rpc = pamqp.frame.marshal, pamqp.frame.unmarshal, aiormq.channel.Channel.rpc

    def counted_marshal(frame: Any, channel_id: int) -> bytes:
        SENT[type(frame).__qualname__] += 1
        return marshal(frame, channel_id)

    def counted_unmarshal(data: bytes) -> Any:
        result = unmarshal(data)
        RECEIVED[type(result[2]).__qualname__] += 1
        return result

    async def counted_rpc(self: aiormq.channel.Channel, frame: Any, timeout: Any = None) -> Any:
        if frame.synchronous and not getattr(frame, "nowait", False):
            WAITED[type(frame).__qualname__] += 1
        return await rpc(self, frame, timeout)

    pamqp.frame.marshal = counted_marshal  # type: ignore[assignment]
    pamqp.frame.unmarshal = counted_unmarshal  # type: ignore[assignment]
    aiormq.channel.Channel.rpc = counted_rpc  # type: ignore[method-assign]


def _report(phase: str, jobs: int) -> None:
    print(f"{phase}, per job:")
    for label, counter in (("sent", SENT), ("received", RECEIVED), ("waited", WAITED)):
        shown = {k: round(v / jobs, 3) for k, v in counter.most_common() if v / jobs >= 0.001}
        print(f"  {label:9} {shown}")
        counter.clear()


async def _run(settings: Settings, jobs: int) -> None:
    queue = AmqpWorkQueue(settings.amqp_url, f"frames-{uuid.uuid4().hex[:10]}")
    try:
        await queue.connect()
        for counter in (SENT, RECEIVED, WAITED):
            counter.clear()
        await queue.enqueue_many([NewJob("noop", {"i": i}) for i in range(jobs)])
        _report("enqueue_many", jobs)
        noop, all_done = countdown(jobs)
        worker = Worker(queue, {"noop": noop}, concurrency=200)
        task = asyncio.create_task(worker.run())
        await asyncio.wait_for(all_done.wait(), 300)
        await worker.stop()
        await task
        await queue.registry.flush(timeout=60.0)
        _report("process (the ids' forgetting included)", jobs)
    finally:
        await queue.delete_everything()
        await queue.close()


async def _primitives(url: str, jobs: int) -> None:
    name = f"primitives-{uuid.uuid4().hex[:10]}"
    ids = [uuid.uuid4().hex for _ in range(jobs)]
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        work = await channel.declare_queue(name, durable=True, arguments={"x-max-priority": 10})
        registry = await channel.declare_exchange(name, aio_pika.ExchangeType.DIRECT, durable=True)
        sink = await channel.declare_queue(
            f"{name}.ids", durable=True, arguments={"x-max-length": 0}
        )
        lanes = [await connection.channel(publisher_confirms=True) for _ in range(LANES)]
        probes = [await lane.get_exchange(name, ensure=False) for lane in lanes]
        raw = [await lane.get_underlay_channel() for lane in lanes]

        async def publish() -> None:
            for first in range(0, jobs, PUBLISH_WINDOW):
                await asyncio.gather(
                    *(
                        channel.default_exchange.publish(
                            aio_pika.Message(b'{"i":0}', delivery_mode=2), routing_key=name
                        )
                        for _ in ids[first : first + PUBLISH_WINDOW]
                    )
                )

        async def deliver_and_ack() -> None:
            consumer = await connection.channel()
            await consumer.set_qos(prefetch_count=200)
            done = asyncio.Event()
            left = jobs

            async def ack(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                nonlocal left
                await message.ack()
                left -= 1
                if left == 0:
                    done.set()

            queue = await consumer.get_queue(name, ensure=False)
            tag = await queue.consume(ack)
            await done.wait()
            await queue.cancel(tag)

        async def per_id(op: Any) -> None:
            for first in range(0, jobs, PUBLISH_WINDOW):
                window = ids[first : first + PUBLISH_WINDOW]
                await asyncio.gather(*(op(n % LANES, i) for n, i in enumerate(window)))

        async def probe(lane: int, job_id: str) -> Any:
            message = aio_pika.Message(b"")
            return await probes[lane].publish(message, routing_key=job_id, mandatory=True)

        async def bind() -> None:
            for n, job_id in enumerate(ids):
                await raw[n % LANES].queue_bind(sink.name, name, routing_key=job_id, nowait=True)
            await asyncio.gather(*(r.exchange_declare(name, passive=True) for r in raw))

        async def unbind(lane: int, job_id: str) -> Any:
            return await raw[lane].queue_unbind(sink.name, name, routing_key=job_id)

        steps = [
            ("persistent publish, confirmed", publish()),
            ("delivery and ack (prefetch 200)", deliver_and_ack()),
            ("registry: mandatory probe, confirmed", per_id(probe)),
            ("registry: binding (nowait)", bind()),
            ("registry: unbinding (waited)", per_id(unbind)),
        ]
        for label, step in steps:
            started = time.perf_counter()
            await step
            print(f"{label:40} {jobs / (time.perf_counter() - started):8,.0f} per s")
        await work.delete(if_unused=False, if_empty=False)
        await sink.delete(if_unused=False, if_empty=False)
        await registry.delete()


def main() -> None:
    configure_logging("bench", "WARNING", json=True)
    # A random secret: the settings refuse to exist without one, and nothing is signed here.
    settings = Settings(log_level="WARNING", jwt_secret=secrets.token_urlsafe(48))
    args = [a for a in sys.argv[1:] if a != "--primitives"]
    jobs = int(args[0]) if args else 2000
    if "--primitives" in sys.argv:
        asyncio.run(_primitives(settings.amqp_url, jobs))
        return
    _count_frames()
    asyncio.run(_run(settings, jobs))


if __name__ == "__main__":
    main()
