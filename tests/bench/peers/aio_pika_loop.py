"""The RabbitMQ peer: a bare aio-pika loop with publisher confirms and manual acks, no-op
messages, in a process of its own (run by tests/bench/queue_peers.py with the project's
Python, which has aio-pika):

    python aio_pika_loop.py AMQP_URL JOBS CONCURRENCY

Configured as the backend's work queue is, so that the figures compare the clients and not
the queues: a durable classic queue with `x-max-priority` 10, persistent messages carrying
a job's properties and headers (id, type, priority, enqueue time, attempts, history),
published WINDOW unconfirmed at a time (the backend's publish window), then one consumer
(prefetch CONCURRENCY) acks each. Prints {"enqueue": ..., "process": ...}.
"""

import asyncio
import json
import sys
import time
import uuid

import aio_pika

WINDOW = 1000  # shared.workqueue.amqp_backend.PUBLISH_WINDOW


def job(i: int) -> aio_pika.Message:
    return aio_pika.Message(
        json.dumps({"i": i}, separators=(",", ":")).encode(),
        message_id=uuid.uuid4().hex,
        type="noop",
        priority=0,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        content_type="application/json",
        headers={
            "priority": 0,
            "enqueued_at": int(time.time() * 1000),
            "attempts": 0,
            "history": "[]",
        },
    )


async def main(url: str, jobs: int, width: int) -> tuple[float, float]:
    connection = await aio_pika.connect(url)
    name = f"bench-pika-{uuid.uuid4().hex[:8]}"
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(name, durable=True, arguments={"x-max-priority": 10})
        started = time.perf_counter()
        for first in range(0, jobs, WINDOW):
            await asyncio.gather(
                *(
                    channel.default_exchange.publish(job(i), routing_key=name)
                    for i in range(first, min(jobs, first + WINDOW))
                )
            )
        enqueue = jobs / (time.perf_counter() - started)
        consumer = await connection.channel()
        await consumer.set_qos(prefetch_count=width)
        done = asyncio.Event()
        count = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal count
            json.loads(message.body)  # a worker reads the job it runs
            await message.ack()
            count += 1
            if count == jobs:
                done.set()

        started = time.perf_counter()
        queue_again = await consumer.get_queue(name)
        await queue_again.consume(on_message)
        await asyncio.wait_for(done.wait(), 600)
        process = jobs / (time.perf_counter() - started)
        await queue.delete(if_unused=False, if_empty=False)
    return enqueue, process


if __name__ == "__main__":
    rates = asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
    print(json.dumps({"enqueue": rates[0], "process": rates[1]}))
