"""Per-group concurrency of the RabbitMQ backend: at most `limit` jobs of one group run.

A group's slot k is the exclusive queue `wq.<name>.group.<group>.<k>`: one connection at a
time can declare it, and the broker deletes it when that connection dies, so a worker that
crashes frees its slots at once. A worker holding no free slot for a job's group gives the
job back through a delay queue (GROUP_RETRY seconds, not an attempt) and takes the next
one; jobs of a busy group therefore wait in the broker and may change order among
themselves, which a limit of one per customer does not mind.
"""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING

import aiormq
from aio_pika.abc import AbstractChannel

from shared.workqueue.amqp_messages import CONNECTION_ERRORS, copy_of
from shared.workqueue.base import Job

if TYPE_CHECKING:
    from shared.workqueue.amqp_backend import AmqpWorkQueue

GROUP_RETRY = 0.25  # seconds a job of a busy group waits before it is offered again
MAX_GROUP_BYTES = 200


class GroupSlots:
    def __init__(self, queue: AmqpWorkQueue) -> None:
        self.queue = queue
        self.prefix = f"{queue.layout.main}.group."
        self._held: dict[str, tuple[str, AbstractChannel]] = {}  # job id -> slot, channel

    async def admit(self, jobs: list[Job], limit: int) -> list[Job]:
        """The jobs that got a slot of their group; the others are given back for later."""
        admitted = []
        for job in jobs:
            if job.group is None or await self._acquire(job, limit):
                admitted.append(job)
            else:
                await self._defer(job)
        return admitted

    async def _acquire(self, job: Job, limit: int) -> bool:
        assert job.group is not None
        mine = {slot for slot, _ in self._held.values()}
        connection = self.queue.connection
        assert connection is not None
        group = job.group.encode()[:MAX_GROUP_BYTES].decode(errors="ignore")
        for k in range(limit):
            slot = f"{self.prefix}{group}.{k}"
            if slot in mine:
                continue  # this connection holds it already (exclusive queues are per connection)
            channel = await connection.channel()
            try:
                await channel.declare_queue(slot, exclusive=True, auto_delete=True)
            except aiormq.exceptions.ChannelLockedResource:
                continue  # another worker holds it; the broker closed this channel
            self._held[job.id] = (slot, channel)
            return True
        return False

    async def _defer(self, job: Job) -> None:
        routing_key, expiration = self.queue.layout.route(GROUP_RETRY)
        copy = copy_of(job.receipt, attempts=job.attempt - 1)  # not an attempt
        copy.expiration = expiration
        await self.queue.publish([(copy, routing_key)])
        with suppress(*CONNECTION_ERRORS):
            await job.receipt.ack()

    async def release(self, jobs: list[Job]) -> None:
        """Free the slots of jobs that are done (settled or given back)."""
        for job in jobs:
            held = self._held.pop(job.id, None)
            if held is None:
                continue
            slot, channel = held
            with suppress(*CONNECTION_ERRORS):  # a lost connection freed it anyway
                await channel.queue_delete(slot)
                await channel.close()

    def forget(self) -> None:
        """The connection died: the broker deleted its exclusive queues, the slots are free."""
        self._held.clear()
