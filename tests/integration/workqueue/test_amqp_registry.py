"""RabbitMQ job id registry: bindings sent without waiting for each reply are in place when
`enqueue_many` returns, and a refused one fails the call instead of passing unnoticed."""

from __future__ import annotations

import aio_pika
import pytest

from shared.config import Settings
from shared.workqueue import NewJob, QueueUnavailable, WorkQueue, create_work_queue
from shared.workqueue.amqp_backend import AmqpWorkQueue
from shared.workqueue.amqp_registry import LANES, WINDOW

pytestmark = pytest.mark.parametrize("backend", ["amqp"])


async def test_ids_are_known_to_another_producer_once_enqueue_many_returned(
    queue: WorkQueue, queue_settings: Settings
) -> None:
    ids = [f"job-{n}" for n in range(WINDOW * 2 + LANES + 1)]  # several windows, uneven lanes
    assert await queue.enqueue_many([NewJob("work", {}, job_id=i) for i in ids]) == [True] * len(
        ids
    )
    other = create_work_queue(queue_settings)
    try:
        again = await other.enqueue_many([NewJob("work", {}, job_id=i) for i in ids])
        assert again == [False] * len(ids)
        assert (await other.status())["waiting"] == len(ids)
    finally:
        await other.close()


async def test_a_refused_binding_fails_the_enqueue_and_the_next_one_reconnects(
    queue: WorkQueue, queue_settings: Settings
) -> None:
    assert isinstance(queue, AmqpWorkQueue)
    assert await queue.enqueue("work", {}, job_id="before") is True
    # The registry's sink vanishes behind the producer's back: its binds are refused.
    connection = await aio_pika.connect(queue_settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(queue.registry.sink_name)
    with pytest.raises(QueueUnavailable):  # one bind, so only the round trip after it tells
        await queue.enqueue("work", {}, job_id="lost")
    # The failed call dropped the connection; the next one declares the sink again.
    assert await queue.enqueue("work", {}, job_id="after") is True
    assert await queue.enqueue("work", {}, job_id="after") is False
