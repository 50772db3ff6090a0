"""The job id registry of the RabbitMQ backend: which job ids the queue holds right now.

RabbitMQ has no key lookup, but its routing table is one: a job id is registered as a
binding (routing key = the id) of a direct exchange `wq.<name>.ids` to a sink queue that
keeps nothing (`x-max-length` 0). A probe published with `mandatory` to that exchange is
routed if the id is bound and returned to the sender if not: one pipelined publish per id.
Bindings are added with AMQP's `nowait` (no reply per binding): a channel runs its methods
in order and closes on the first that fails, so one round trip per channel afterwards tells
that every binding before it is in place.

Enqueues hold a broker-side mutex (an exclusive queue `wq.<name>.enqueue-lock`, which only
one connection can declare at a time and which the broker deletes when its connection dies),
so "probe, publish, bind" is atomic across producers. The order makes every failure
harmless: a job is published (and confirmed) before its id is bound, and unbound before
its message goes away, so a crash in between can only forget an id (the next enqueue of it
makes one duplicate, which an idempotent handler absorbs), never keep an id whose job is
gone (which would refuse that job forever).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from aiormq.abc import AbstractChannel as RawChannel

from shared.logging import get_logger
from shared.retry import chunked
from shared.workqueue.base import QueueUnavailable

log = get_logger(__name__)

Lane = tuple[AbstractExchange, RawChannel]  # probes publish on the first, binds use the second
Op = Callable[[Lane, str], Awaitable[Any]]

WINDOW = 1000
LANES = 8
FORGET_BACKLOG = 100_000  # completed ids waiting to be unbound; past it they stay known
LOCK_TIMEOUT = 15.0  # seconds an enqueue waits for another producer's batch


class JobRegistry:
    def __init__(self, main: str) -> None:
        self.exchange_name = f"{main}.ids"
        self.sink_name = f"{main}.ids"
        self.lock_name = f"{main}.enqueue-lock"
        self._lanes: list[Lane] = []
        self._to_forget: list[str] = []
        self._forgetter: asyncio.Task[None] | None = None

    async def declare(self, connection: AbstractConnection, channel: AbstractChannel) -> None:
        """Declare the exchange and the sink (durable: bindings between durable entities
        survive a broker restart) and open the channels probes and bindings run on."""
        await channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.DIRECT, durable=True
        )
        await channel.declare_queue(self.sink_name, durable=True, arguments={"x-max-length": 0})
        lanes = []
        # Binding changes are slow round trips (about a millisecond each); several channels
        # run them side by side, which the broker serves in parallel.
        for _ in range(LANES):
            lane = await connection.channel(publisher_confirms=True)
            exchange = await lane.get_exchange(self.exchange_name, ensure=False)
            lanes.append((exchange, await lane.get_underlay_channel()))
        self._lanes = lanes

    @asynccontextmanager
    async def locked(self, connection: AbstractConnection) -> AsyncIterator[None]:
        """Hold the enqueue mutex of this queue for the duration of the block."""
        channel = await self._acquire(connection)
        try:
            yield
        finally:
            with suppress(Exception):  # a lost connection releases the mutex anyway
                await channel.queue_delete(self.lock_name)
                await channel.close()

    async def _acquire(self, connection: AbstractConnection) -> AbstractChannel:
        deadline = time.monotonic() + LOCK_TIMEOUT
        wait = 0.002
        while True:
            channel = await connection.channel()
            try:
                await channel.declare_queue(self.lock_name, exclusive=True, auto_delete=True)
                return channel
            except aiormq.exceptions.ChannelLockedResource:
                pass  # another producer holds it; the broker closed this channel
            if time.monotonic() > deadline:
                raise QueueUnavailable(f"amqp: the enqueue lock of {self.lock_name} is held")
            await asyncio.sleep(wait)
            wait = min(wait * 2, 0.05)

    async def known(self, ids: list[str]) -> set[str]:
        """The ids among `ids` that are registered."""
        results = await self._spread(
            ids,
            lambda lane, i: lane[0].publish(aio_pika.Message(b""), routing_key=i, mandatory=True),
        )
        # A probe that found no binding comes back as the returned message itself.
        return {
            i
            for i, r in zip(ids, results, strict=True)
            if not isinstance(r, aiormq.abc.DeliveredMessage)
        }

    async def add(self, ids: list[str]) -> None:
        """Register the ids: binds sent without waiting, then one round trip per lane."""
        await self._spread(
            ids,
            lambda lane, i: lane[1].queue_bind(
                self.sink_name, self.exchange_name, routing_key=i, nowait=True
            ),
        )
        # Answered only after every bind sent before it on its channel; a refused bind
        # closed that channel, and this reports it.
        await asyncio.gather(
            *(lane[1].exchange_declare(self.exchange_name, passive=True) for lane in self._lanes)
        )

    async def remove(self, ids: list[str]) -> None:
        # AMQP has no nowait for queue.unbind: each waits for its reply, eight lanes at once.
        await self._spread(
            ids,
            lambda lane, i: lane[1].queue_unbind(self.sink_name, self.exchange_name, routing_key=i),
        )

    def forget_later(self, ids: list[str]) -> None:
        """Unbind completed ids in the background: a settlement (and the acks that free
        prefetch slots) does not wait on binding changes, which are slower than jobs."""
        self._to_forget += ids
        if self._forgetter is None or self._forgetter.done():
            self._forgetter = asyncio.create_task(self._forget(), name="workqueue-forget")

    async def _forget(self) -> None:
        failures = 0
        while self._to_forget:
            batch, self._to_forget = self._to_forget[:WINDOW], self._to_forget[WINDOW:]
            try:
                await self.remove(batch)
                failures = 0
            except Exception as exc:  # the broker is away: try again once it is back
                failures += 1
                if len(self._to_forget) < FORGET_BACKLOG:
                    self._to_forget[:0] = batch
                log.warning("could not forget completed job ids", error=repr(exc))
                await asyncio.sleep(min(2.0, 0.05 * 2**failures))

    async def flush(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the ids still to forget (before closing)."""
        task = self._forgetter
        if task is None:
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), timeout)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def _spread(self, ids: list[str], op: Op) -> list[Any]:
        """Run `op` for every id, a window at a time, round-robin over the lanes."""
        if not self._lanes:
            raise QueueUnavailable("amqp: the job registry is not declared")
        results: list[Any] = []
        lanes = self._lanes
        for window in chunked(ids, WINDOW):
            results += await asyncio.gather(
                *(op(lanes[n % len(lanes)], i) for n, i in enumerate(window))
            )
        return results

    async def delete(self, channel: AbstractChannel) -> None:
        """Drop the registry (tests and decommissioning)."""
        await channel.queue_delete(self.sink_name)
        await channel.exchange_delete(self.exchange_name)
