"""Flow control of the RabbitMQ backend, kept in the broker: the pause flag and rate tickets.

Pause: the queue is paused while the control exchange `wq.<name>.control` has a binding
with the routing key `paused` (to the registry's sink, which keeps nothing). A worker probes
it with a `mandatory` publish (routed: paused; returned: not), at most every PAUSE_POLL
seconds, so every worker stops taking jobs within that time of a pause.

Rate limit: a job may start once the worker holds a ticket. Tickets are messages in
`wq.<name>.rate.<max>per<ms>ms`, a queue declared with `x-max-length` max, `x-overflow`
reject-publish and `x-message-ttl` ms: the broker confirms a ticket while fewer than max
were issued in the last ms milliseconds and refuses (nacks) it otherwise, so the queue is a
sliding-window log shared by every worker, with no clock or counter of our own. A new limit
is a new queue (arguments cannot change); an old one is empty within its window.
"""

from __future__ import annotations

import asyncio
import time

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractQueue

from shared.workqueue.base import RateLimit

PAUSE_POLL = 0.5  # seconds a worker trusts the pause flag it last read
PAUSED_KEY = "paused"


class Flow:
    def __init__(self, main: str, sink: str) -> None:
        self.main = main
        self.control = f"{main}.control"
        self.sink = sink
        self._paused = False
        self._checked = -PAUSE_POLL
        self._burst = 1  # tickets asked for at once: doubles while granted, 1 after a refusal
        self._declared: set[RateLimit] = set()  # ticket queues declared on this connection
        self.ticket_queues: set[str] = set()  # every ticket queue this client used

    async def declare(self, channel: AbstractChannel) -> None:
        await channel.declare_exchange(self.control, aio_pika.ExchangeType.DIRECT, durable=True)
        self._checked = -PAUSE_POLL
        self._declared.clear()

    async def set_paused(self, channel: AbstractChannel, paused: bool) -> None:
        sink = await channel.get_queue(self.sink, ensure=False)
        if paused:
            await sink.bind(self.control, routing_key=PAUSED_KEY)
        else:
            await sink.unbind(self.control, routing_key=PAUSED_KEY)
        self._paused, self._checked = paused, time.monotonic()

    async def probe(self, channel: AbstractChannel) -> bool:
        """Whether the queue is paused, read from the broker now."""
        exchange = await channel.get_exchange(self.control, ensure=False)
        result = await exchange.publish(
            aio_pika.Message(b""), routing_key=PAUSED_KEY, mandatory=True
        )
        # A probe that found no binding comes back as the returned message itself.
        self._paused = not isinstance(result, aiormq.abc.DeliveredMessage)
        self._checked = time.monotonic()
        return self._paused

    async def paused(self, channel: AbstractChannel) -> bool:
        """The pause flag, read again once it is older than PAUSE_POLL."""
        if time.monotonic() - self._checked < PAUSE_POLL:
            return self._paused
        return await self.probe(channel)

    def ticket_queue(self, limit: RateLimit) -> str:
        return f"{self.main}.rate.{limit.max_jobs}per{limit.window_ms}ms"

    async def declare_tickets(self, channel: AbstractChannel, limit: RateLimit) -> AbstractQueue:
        self.ticket_queues.add(self.ticket_queue(limit))
        return await channel.declare_queue(
            self.ticket_queue(limit),
            durable=True,
            arguments={
                "x-max-length": limit.max_jobs,
                "x-overflow": "reject-publish",
                "x-message-ttl": limit.window_ms,
            },
        )

    async def tickets(self, channel: AbstractChannel, limit: RateLimit, wanted: int) -> int:
        """How many of `wanted` jobs may start now (tickets the broker confirmed)."""
        if limit not in self._declared:
            await self.declare_tickets(channel, limit)
            self._declared.add(limit)
        exchange = channel.default_exchange
        name = self.ticket_queue(limit)
        asked = min(wanted, self._burst)
        results = await asyncio.gather(
            *(exchange.publish(aio_pika.Message(b""), routing_key=name) for _ in range(asked)),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException) and not isinstance(
                result, aiormq.exceptions.DeliveryError
            ):
                raise result  # a broken connection, not a refusal
        granted = sum(1 for r in results if not isinstance(r, BaseException))
        self._burst = min(1024, self._burst * 2) if granted == asked else 1
        return granted

    @staticmethod
    def ticket_wait(limit: RateLimit) -> float:
        """How long to wait after a refused ticket: about one job's share of the window."""
        return min(0.25, max(0.005, limit.per / limit.max_jobs))
