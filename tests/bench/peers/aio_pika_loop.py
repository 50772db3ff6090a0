"""The RabbitMQ peer: a bare aio-pika loop with publisher confirms and manual acks, no-op
messages, in a process of its own (run by tests/bench/queue_peers.py with the project's
Python, which has aio-pika):

    python aio_pika_loop.py AMQP_URL JOBS CONCURRENCY

Publishes JOBS persistent messages to a durable queue, CONCURRENCY unconfirmed at a time,
then one consumer (prefetch CONCURRENCY) acks each. Prints {"enqueue": ..., "process": ...}.
"""

import asyncio
import json
import sys
import time
import uuid

import aio_pika


async def main(url: str, jobs: int, width: int) -> tuple[float, float]:
    connection = await aio_pika.connect(url)
    name = f"bench-pika-{uuid.uuid4().hex[:8]}"
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(name, durable=True)
        body = json.dumps({"type": "noop", "payload": {"i": 0}}).encode()
        started = time.perf_counter()
        for first in range(0, jobs, width):
            await asyncio.gather(
                *(
                    channel.default_exchange.publish(
                        aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key=name,
                    )
                    for _ in range(first, min(jobs, first + width))
                )
            )
        enqueue = jobs / (time.perf_counter() - started)
        consumer = await connection.channel()
        await consumer.set_qos(prefetch_count=width)
        done = asyncio.Event()
        count = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal count
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
