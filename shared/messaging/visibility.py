"""What a consumer does to received SQS messages besides handling them.

`Heartbeat` extends the visibility timeout of every in-flight message about to become
visible again, in one ChangeMessageVisibilityBatch call per ten. `Deleter` deletes handled
messages in batches of ten. `release` makes messages visible again (at once on shutdown,
after a backoff delay when a handler failed).

Real SQS answers a stale receipt handle with `ReceiptHandleIsInvalid` and a message whose
visibility already expired with `MessageNotInflight` (so does the local server). Such a
message may be with another consumer by now: the heartbeat marks it `lost` and stops
extending it, a failed delete is left to the redelivery (the handlers are idempotent).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from prometheus_client import Counter

from shared.logging import get_logger
from shared.retry import backoff_delay, chunked

log = get_logger(__name__)

SQS_BATCH = 10
# Answers of real SQS about a receipt handle that no longer holds the message.
GONE = frozenset(
    {
        "ReceiptHandleIsInvalid",
        "MessageNotInflight",
        "AWS.SimpleQueueService.MessageNotInflight",
        "InvalidParameterValue",
    }
)

VISIBILITY_EXTENDED = Counter(
    "sqs_consumer_visibility_extended_total", "Visibility timeouts extended", ["queue"]
)
VISIBILITY_LOST = Counter(
    "sqs_consumer_visibility_lost_total",
    "In-flight messages whose receipt handle SQS no longer accepts",
    ["queue"],
)
DELETED = Counter("sqs_consumer_deleted_total", "Handled messages deleted", ["queue"])
DELETE_FAILED = Counter(
    "sqs_consumer_delete_failed_total", "Deletes that failed (left to redelivery)", ["queue"]
)


@dataclass(eq=False)
class InFlight:
    """A received message while this consumer holds it."""

    message_id: str
    receipt_handle: str
    body: str
    attributes: dict[str, str]
    receive_count: int
    sent_at: float | None
    visible_until: float  # time.monotonic() at which SQS shows the message again
    lost: bool = False
    received_at: float = field(default_factory=time.monotonic)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def received(cls, raw: dict[str, Any], visibility_timeout: float) -> InFlight:
        """A message as ReceiveMessage returned it, hidden for `visibility_timeout` from now."""
        system = raw.get("Attributes", {})
        attributes = {
            name: value.get("StringValue", "")
            for name, value in raw.get("MessageAttributes", {}).items()
        }
        sent = system.get("SentTimestamp")
        return cls(
            message_id=raw["MessageId"],
            receipt_handle=raw["ReceiptHandle"],
            body=raw.get("Body", ""),
            attributes=attributes,
            receive_count=int(system.get("ApproximateReceiveCount", "1")),
            sent_at=int(sent) / 1000 if sent else None,
            visible_until=time.monotonic() + visibility_timeout,
        )


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


async def change_visibility(
    client: Any, queue_url: str, messages: Sequence[InFlight], timeout: int
) -> tuple[list[InFlight], list[tuple[InFlight, str]]]:
    """Set the visibility timeout of up to ten messages; return (succeeded, [(failed, code)])."""
    by_id = {str(i): m for i, m in enumerate(messages)}
    response = await client.change_message_visibility_batch(
        QueueUrl=queue_url,
        Entries=[
            {"Id": i, "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": timeout}
            for i, m in by_id.items()
        ],
    )
    ok = [by_id[entry["Id"]] for entry in response.get("Successful", [])]
    failed = [(by_id[entry["Id"]], entry.get("Code", "")) for entry in response.get("Failed", [])]
    return ok, failed


async def release(client: Any, queue_url: str, messages: Sequence[InFlight], delay: int) -> None:
    """Make messages visible again after `delay` seconds; errors only mean SQS does it later."""
    for chunk in chunked(messages, SQS_BATCH):
        try:
            _, failed = await change_visibility(client, queue_url, chunk, delay)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("release failed; visibility timeout will", error=repr(exc))
            continue
        for message, code in failed:
            log.info("release refused", message_id=message.message_id, code=code)


class Heartbeat:
    """One task for all in-flight messages: extend those whose visibility is about to end."""

    def __init__(
        self,
        client: Any,
        queue_url: str,
        queue: str,
        inflight: dict[str, InFlight],
        *,
        visibility_timeout: int,
        max_hidden: float | None = None,
    ) -> None:
        self.client = client
        self.max_hidden = max_hidden  # seconds a message may be kept hidden, from its receipt
        self.queue_url = queue_url
        self.queue = queue
        self.inflight = inflight
        self.visibility_timeout = visibility_timeout
        self.interval = min(1.0, visibility_timeout / 5)
        self.margin = max(2 * self.interval, visibility_timeout / 3)
        # Held while a batch call runs: a handler takes it to stop the heartbeat of its
        # message before the message is deleted or released.
        self.lock = asyncio.Lock()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("visibility heartbeat failed", error=repr(exc))

    async def beat(self) -> None:
        now = time.monotonic()
        due = [
            m for m in self.inflight.values() if not m.lost and m.visible_until - now < self.margin
        ]
        if not due:
            return
        async with self.lock:
            due = [m for m in due if self.inflight.get(m.receipt_handle) is m]
            if self.max_hidden is not None:
                for message in [m for m in due if now - m.received_at >= self.max_hidden]:
                    due.remove(message)  # a hung handler does not hide its message forever
                    self._lost(message, f"held past the {self.max_hidden:g} s cap")
            for chunk in chunked(due, SQS_BATCH):
                ok, failed = await change_visibility(
                    self.client, self.queue_url, chunk, self.visibility_timeout
                )
                for message in ok:
                    message.visible_until = now + self.visibility_timeout
                VISIBILITY_EXTENDED.labels(self.queue).inc(len(ok))
                for message, code in failed:
                    self._lost(message, code)

    def _lost(self, message: InFlight, code: str) -> None:
        message.lost = True
        VISIBILITY_LOST.labels(self.queue).inc()
        log.warning(
            "message visibility lost; another consumer may receive it",
            message_id=message.message_id,
            code=code,
        )


class Deleter:
    """Deletes handled messages in batches of up to ten, with retries."""

    def __init__(self, client: Any, queue_url: str, queue: str, *, linger: float = 0.05) -> None:
        self.client = client
        self.queue_url = queue_url
        self.queue = queue
        self.linger = linger
        self.pending: asyncio.Queue[InFlight] = asyncio.Queue()

    def add(self, message: InFlight) -> None:
        self.pending.put_nowait(message)

    async def run(self) -> None:
        while True:
            batch = [await self.pending.get()]
            if self.pending.qsize() < SQS_BATCH - 1:
                await asyncio.sleep(self.linger)  # let a few more handlers finish
            while len(batch) < SQS_BATCH and not self.pending.empty():
                batch.append(self.pending.get_nowait())
            try:
                await self.delete(batch)
            finally:
                for _ in batch:
                    self.pending.task_done()

    async def delete(self, batch: list[InFlight], attempts: int = 3) -> None:
        for attempt in range(attempts):
            try:
                response = await self.client.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m.receipt_handle}
                        for i, m in enumerate(batch)
                    ],
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("delete failed, retrying", error=repr(exc), attempt=attempt + 1)
                await asyncio.sleep(backoff_delay(attempt, base=0.2, cap=2.0))
                continue
            DELETED.labels(self.queue).inc(len(response.get("Successful", [])))
            retry = []
            for entry in response.get("Failed", []):
                message = batch[int(entry["Id"])]
                if entry.get("SenderFault") or entry.get("Code") in GONE:
                    # Stale handle: the message comes back and its handler finds it processed.
                    DELETE_FAILED.labels(self.queue).inc()
                    log.info(
                        "delete refused; redelivery will be skipped as processed",
                        message_id=message.message_id,
                        code=entry.get("Code"),
                    )
                else:
                    retry.append(message)
            if not retry:
                return
            batch = retry
        DELETE_FAILED.labels(self.queue).inc(len(batch))
        log.warning("delete gave up; messages come back and are skipped", count=len(batch))
