"""RabbitMQ layout: settings that change between connects, and the previous layout."""

from __future__ import annotations

import aio_pika
import aiormq
import pytest

from shared.config import Settings
from shared.workqueue import NewJob, Outcome, WorkQueue, create_work_queue
from shared.workqueue.base import admin

pytestmark = pytest.mark.parametrize("backend", ["amqp"])


async def _fail(queue: WorkQueue, ids: list[str]) -> None:
    await queue.enqueue_many([NewJob("work", {}, job_id=i) for i in ids])
    claimed: list[object] = []
    while len(claimed) < len(ids):
        claimed += await queue.claim(len(ids), 5)
    await queue.settle([Outcome(job, "failed", error="ValueError: bad") for job in claimed])  # type: ignore[arg-type]


async def test_a_new_failed_set_limit_applies_at_the_next_connect(
    queue: WorkQueue, queue_settings: Settings
) -> None:
    """The limit was a queue argument: RabbitMQ refused every connect after it changed."""
    roomy = create_work_queue(queue_settings.model_copy(update={"work_queue_keep_failed": 10}))
    try:
        await _fail(roomy, ["a", "b", "c", "d"])
        assert (await roomy.status())["failed"] == 4
    finally:
        await roomy.close()
    tight = create_work_queue(queue_settings.model_copy(update={"work_queue_keep_failed": 2}))
    try:
        assert (await tight.status())["failed"] == 4
        await _fail(tight, ["e"])
        assert [job["id"] for job in await tight.failed()] == ["e", "d"]  # newest kept
        assert await tight.enqueue("a", {}, job_id="a") is True  # a dropped id is forgotten
    finally:
        await tight.close()


async def test_jobs_of_the_previous_layout_are_kept_at_the_first_connect(
    queue_settings: Settings,
) -> None:
    """Before, the failed set was `wq.<name>.failed` with an `x-max-length` argument."""
    name = f"wq.{queue_settings.work_queue_name}"
    connection = await aio_pika.connect(queue_settings.amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(
            f"{name}.failed", durable=True, arguments={"x-max-length": 10_000}
        )
        await channel.declare_queue(name, durable=True, arguments={"x-max-priority": 10})
        failed = aio_pika.Message(
            b'{"n": 1}', message_id="old-failed", type="work", headers={"error": "E: old"}
        )
        await channel.default_exchange.publish(failed, routing_key=f"{name}.failed")
        waiting = aio_pika.Message(b'{"n": 2}', message_id="old-waiting", type="work")
        await channel.default_exchange.publish(waiting, routing_key=name)

        queue = create_work_queue(queue_settings)
        try:
            assert [(j["id"], j["error"]) for j in await queue.failed()] == [
                ("old-failed", "E: old")
            ]
            assert [job.id for job in await queue.claim(1, 5)] == ["old-waiting"]
            probe = await connection.channel()
            with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity):
                await probe.declare_queue(f"{name}.failed", passive=True)
        finally:
            await admin(queue).delete_everything()
            await queue.close()
    finally:
        await connection.close()
