"""The one SQS consumer runtime of the suite.

A poller long-polls the queue (WaitTimeSeconds up to 20, up to ten messages a call) only for
as many messages as there are free handler slots, so at most `concurrency` handlers run.
Each message is parsed into an `Envelope` and routed by its `eventType` attribute, with its
correlation id and traceparent bound to every log line.

Outcomes of a message:

- handled: its heartbeat is stopped, then it is deleted (in batches of ten);
- the database is unreachable (`is_unavailable`): the handler is retried in place with
  backoff while the heartbeat keeps the message invisible, and the poller takes at most one
  message at a time until a handler succeeds again. The receive count does not grow, so a
  database outage sends nothing to the dead-letter queue and deletes nothing unhandled;
- a transient database error (`is_transient`: deadlock, serialization failure, read-only
  server): the handler is retried in place a few times (TRANSIENT_ATTEMPTS) with a short
  backoff, so a lost race does not spend a receive; if it keeps failing, as below;
- any other failure (unknown type, malformed body, an `eventType` attribute that disagrees
  with the envelope's `type`, handler error, a run past its type's deadline in `deadlines`,
  "*" for any type, which cancels it): the message is released with a growing delay
  (`retry_base * 2**(receives - 1)` s); the redrive policy dead-letters it after
  maxReceiveCount receives.
The heartbeat hides a message at most `max_hidden` s from its receipt (SQS allows 12 hours).

On shutdown (the task is cancelled, e.g. SIGTERM) the poller stops, handlers get
`shutdown_grace` seconds to finish, the rest are cancelled and their messages released at
once; handled messages are deleted before the loop returns. A receive already sent may
finish for up to RECEIVE_GRACE seconds, its messages released unhandled; a receive still
waiting then is cancelled (SQS returns nothing to it or, rarely, hides a message until its
visibility timeout ends: delayed, never lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from shared.logging import get_logger
from shared.messaging.consumer_metrics import (
    AGE,
    IN_FLIGHT,
    POLL_ERRORS,
    RECEIVED,
    RETRIED,
    poll_depth,
)
from shared.messaging.handling import EventHandlers, Handling
from shared.messaging.visibility import Deleter, Heartbeat, InFlight, release
from shared.retry import backoff_delay

log = get_logger(__name__)


# How long a shutdown lets a receive already sent finish (it returns at once when messages
# are waiting; cancelling it then would hide them until their visibility timeout ends).
RECEIVE_GRACE = 2.0
# How long the poller waits for more free handler slots before a receive, so that receives
# ask for ten messages rather than one (fewer round trips).
RESERVE_LINGER = 0.05


def queue_name(queue_url: str) -> str:
    return queue_url.rstrip("/").rsplit("/", 1)[-1]


class SqsConsumer:
    def __init__(
        self,
        client: Any,
        queue_url: str,
        handlers: EventHandlers,
        *,
        concurrency: int = 10,
        wait_time: int = 20,
        retry_base: float = 1.0,
        retry_cap: int = 900,
        shutdown_grace: float = 20.0,
        depth_interval: float = 15.0,
        transient_timeout: float = 300.0,
        deadlines: dict[str, float] | None = None,  # per event type; "*" for the others
        max_hidden: float | None = 3600.0,
    ) -> None:
        self.client = client
        self.queue_url = queue_url
        self.queue = queue_name(queue_url)
        self.concurrency = concurrency
        self.wait_time = wait_time
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.shutdown_grace = shutdown_grace
        self.depth_interval = depth_interval
        self.inflight: dict[str, InFlight] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._healthy = asyncio.Event()
        self._healthy.set()
        self.max_hidden = max_hidden
        self._handling = Handling(
            self.queue, handlers, self._healthy, transient_timeout, deadlines or {}
        )
        self._deleter = Deleter(client, queue_url, self.queue)
        self._heartbeat: Heartbeat | None = None
        self._stopping = False
        self._receiving = False
        self.visibility_timeout = 30

    async def run(self) -> None:
        """Consume until cancelled; then shut down gracefully and re-raise the cancellation."""
        self.visibility_timeout = await self._read_visibility_timeout()
        self._heartbeat = Heartbeat(
            self.client,
            self.queue_url,
            self.queue,
            self.inflight,
            visibility_timeout=self.visibility_timeout,
            max_hidden=self.max_hidden,
        )
        helpers = [
            asyncio.create_task(self._heartbeat.run(), name=f"{self.queue}:heartbeat"),
            asyncio.create_task(self._deleter.run(), name=f"{self.queue}:deleter"),
            asyncio.create_task(
                poll_depth(self.client, self.queue_url, self.queue, self.depth_interval),
                name=f"{self.queue}:depth",
            ),
        ]
        log.info("consuming", queue=self.queue, concurrency=self.concurrency)
        poller = asyncio.create_task(self._poll(), name=f"{self.queue}:poller")
        try:
            await asyncio.wait({poller})  # a cancellation of run() does not reach the poller
            poller.result()
        finally:
            await self._stop_polling(poller)
            await self._shutdown(helpers)

    async def _stop_polling(self, poller: asyncio.Task[None]) -> None:
        """Stop the poller; a receive already sent may finish, its messages are released."""
        self._stopping = True
        if self._receiving:
            await asyncio.wait({poller}, timeout=RECEIVE_GRACE)
        poller.cancel()
        await asyncio.gather(poller, return_exceptions=True)

    async def _read_visibility_timeout(self) -> int:
        attempt = 0
        while True:
            try:
                response = await self.client.get_queue_attributes(
                    QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"]
                )
                return int(response["Attributes"]["VisibilityTimeout"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                POLL_ERRORS.labels(self.queue).inc()
                delay = backoff_delay(attempt, base=0.5, cap=10.0)
                log.warning("queue not reachable", queue=self.queue, error=repr(exc))
                attempt += 1
                await asyncio.sleep(delay)

    async def _reserve(self) -> int:
        """Wait for a free handler slot, then briefly for more: one receive fills up to ten."""
        await self._slots.acquire()
        taken = 1
        target = min(10, self.concurrency) if self._healthy.is_set() else 1
        deadline = time.monotonic() + RESERVE_LINGER
        while taken < target:
            if not self._slots.locked():
                await self._slots.acquire()
                taken += 1
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(self._slots.acquire(), remaining)
            except TimeoutError:
                break
            taken += 1
        return taken

    async def _poll(self) -> None:
        failures = 0
        while not self._stopping:
            if not self._healthy.is_set():
                # A dependency is down: wait for a handler to succeed, probing now and then.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._healthy.wait(), backoff_delay(failures, base=0.5, cap=5.0) + 0.5
                    )
            taken = await self._reserve()
            self._receiving = True
            try:
                response = await self.client.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=taken,
                    WaitTimeSeconds=self.wait_time,
                    MessageAttributeNames=["All"],
                    MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
                )
            except asyncio.CancelledError:
                self._free(taken)
                raise
            except Exception as exc:
                self._free(taken)
                self._receiving = False
                POLL_ERRORS.labels(self.queue).inc()
                delay = backoff_delay(failures, base=0.5, cap=20.0)
                failures += 1
                log.warning("receive failed", queue=self.queue, error=repr(exc), retry_in=delay)
                await asyncio.sleep(delay)
                continue
            self._receiving = False
            failures = 0
            messages = response.get("Messages", [])
            if self._stopping:
                self._free(taken)
                await release(
                    self.client, self.queue_url, [self._in_flight(m) for m in messages], 0
                )
                return
            self._free(taken - len(messages))
            for raw in messages:
                self._start(self._in_flight(raw))

    def _free(self, count: int) -> None:
        for _ in range(count):
            self._slots.release()

    def _in_flight(self, raw: dict[str, Any]) -> InFlight:
        return InFlight.received(raw, self.visibility_timeout)

    def _start(self, message: InFlight) -> None:
        RECEIVED.labels(self.queue).inc()
        if message.receive_count > 1:
            RETRIED.labels(self.queue).inc()
        if message.sent_at is not None:
            AGE.labels(self.queue).observe(max(0.0, time.time() - message.sent_at))
        self.inflight[message.receipt_handle] = message
        IN_FLIGHT.labels(self.queue).set(len(self.inflight))
        task = asyncio.create_task(self._handle(message), name=f"{self.queue}:{message.message_id}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()
        IN_FLIGHT.labels(self.queue).set(len(self.inflight))
        if not task.cancelled() and task.exception() is not None:
            log.error("message task crashed", error=repr(task.exception()))

    async def _handle(self, message: InFlight) -> None:
        # On cancellation the message stays in `inflight`; the shutdown releases it.
        try:
            ok = await self._handling.process(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug outside the handler: never keep the message forever
            log.exception("message processing crashed", error=repr(exc))
            ok = False
        heartbeat = self._heartbeat
        assert heartbeat is not None
        async with heartbeat.lock:  # the heartbeat never extends a message being deleted
            self.inflight.pop(message.receipt_handle, None)
        if ok:
            self._deleter.add(message)
        else:
            await release(self.client, self.queue_url, [message], self._retry_delay(message))

    def _retry_delay(self, message: InFlight) -> int:
        # No jitter: the receive count already spreads redeliveries of one message.
        cap = min(self.retry_cap, self.visibility_timeout)
        delay = backoff_delay(message.receive_count - 1, base=self.retry_base, cap=cap, jitter=0)
        return int(delay)

    async def _shutdown(self, helpers: list[asyncio.Task[None]]) -> None:
        """Let handlers finish within the grace period, release the rest, flush deletes."""
        pending: set[asyncio.Task[None]] = set()
        if self._tasks:
            log.info("draining in-flight messages", count=len(self._tasks))
            _, pending = await asyncio.wait(set(self._tasks), timeout=self.shutdown_grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        heartbeat, deleter, depth = helpers
        heartbeat.cancel()
        depth.cancel()
        await asyncio.gather(heartbeat, depth, return_exceptions=True)
        unfinished = list(self.inflight.values())
        self.inflight.clear()
        if unfinished:
            log.info("releasing unfinished messages", count=len(unfinished))
            await release(self.client, self.queue_url, unfinished, 0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._deleter.pending.join(), 10.0)
        deleter.cancel()
        await asyncio.gather(deleter, return_exceptions=True)
        IN_FLIGHT.labels(self.queue).set(0)
        log.info("consumer stopped", queue=self.queue, released=len(unfinished))
