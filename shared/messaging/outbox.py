"""Transactional outbox: messages are written with the state change, then relayed.

`add()` runs inside the caller's transaction. `OutboxRelay` publishes unsent rows in
batches, woken at once by LISTEN/NOTIFY and by a polling fallback. Rows are claimed with
`FOR UPDATE SKIP LOCKED`, so several relays share the work without sending a row twice.
A failed row is retried with exponential backoff and jitter; nothing is ever dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
from prometheus_client import Counter, Gauge

from shared.events.envelope import Envelope
from shared.logging import get_logger
from shared.storage.pool import Database, backoff_delay, is_unavailable

log = get_logger(__name__)

OUTBOX_DEPTH = Gauge("outbox_depth", "Unsent outbox rows", ["schema"])
OUTBOX_OLDEST_AGE = Gauge(
    "outbox_oldest_unsent_age_seconds", "Age of the oldest unsent outbox row", ["schema"]
)
OUTBOX_PUBLISHED = Counter("outbox_published_total", "Outbox rows published", ["destination"])
PURGE_EVERY = 60.0  # seconds between purges of sent rows
PURGE_SLICE = 5000  # rows deleted per purge at the most

OUTBOX_FAILED = Counter("outbox_failed_total", "Outbox publish failures", ["destination"])


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    destination: str
    message_id: str
    message_type: str
    body: dict[str, Any]
    attributes: dict[str, str] = field(default_factory=dict)
    attempts: int = 0


class Publisher(Protocol):
    """Sends messages to one kind of broker."""

    max_batch: int

    async def publish(self, destination: str, messages: list[OutboxMessage]) -> dict[int, str]:
        """Send the messages; return {outbox id: error} for the ones that failed."""
        ...


async def add(
    conn: asyncpg.Connection,
    schema: str,
    destination: str,
    envelope: Envelope,
    *,
    delay: float = 0.0,
    attributes: dict[str, str] | None = None,
) -> None:
    """Write an event to the outbox, inside the caller's transaction."""
    attrs = {"eventType": envelope.type}
    if envelope.correlationid:
        attrs["correlationId"] = envelope.correlationid
    if envelope.traceparent:
        attrs["traceparent"] = envelope.traceparent
    attrs.update(attributes or {})
    await conn.execute(
        f"""INSERT INTO {schema}.outbox
                (destination, message_id, message_type, body, attributes, available_at)
            VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, now() + make_interval(secs => $6))""",
        destination,
        envelope.id,
        envelope.type,
        envelope.model_dump_json(),
        json.dumps(attrs),
        delay,
    )


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        schema: str,
        publishers: dict[str, Publisher],
        *,
        batch_size: int = 100,
        poll_interval: float = 2.0,
        max_backoff: float = 60.0,
        sent_retention: float = 7 * 86_400.0,
        publish_timeout: float = 30.0,
    ) -> None:
        self.db = db
        self.schema = schema
        self.publishers = publishers
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self.sent_retention = sent_retention
        self.publish_timeout = publish_timeout
        self._last_gauges = 0.0
        self._last_purge = 0.0

    async def run(self) -> None:
        """Relay until cancelled. Errors are logged and retried, never fatal."""
        failures = 0
        while True:
            # Cleared before the drain: a NOTIFY that arrives during it starts the next one.
            self._wake.clear()
            try:
                await self._ensure_listener()
                sent = await self.drain_once()
                # Before an idle wait the gauges are refreshed, so they never stay stale.
                await self._update_gauges(force=sent < self.batch_size)
                await self._purge_sent()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = backoff_delay(failures, cap=self.poll_interval * 5)
                log.warning("outbox relay error", error=repr(exc), retry_in=round(delay, 2))
                await self._close_listener()
                await asyncio.sleep(delay)
                continue
            if sent >= self.batch_size:
                continue  # more may be waiting: no pause while there is a backlog
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    async def close(self) -> None:
        await self._close_listener()

    async def drain_once(self) -> int:
        """Claim one batch of due rows, publish them, record the outcome. Return rows handled."""
        async with self.db.transaction() as conn:
            rows = await conn.fetch(
                f"""SELECT id, destination, message_id, message_type, body, attributes, attempts
                    FROM {self.schema}.outbox
                    WHERE sent_at IS NULL AND available_at <= now()
                      AND destination = ANY($2::text[])
                    ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED""",
                self.batch_size,
                # Two processes may relay one schema's outbox (checkout_api the reward jobs,
                # reward_worker the reward notices): each claims only what it can publish.
                list(self.publishers),
            )
            if not rows:
                return 0
            by_destination: dict[str, list[OutboxMessage]] = defaultdict(list)
            for row in rows:
                by_destination[row["destination"]].append(_message(row))
            failed: dict[int, str] = {}
            for destination, messages in by_destination.items():
                failed.update(await self._publish(destination, messages))
            sent_ids = [row["id"] for row in rows if row["id"] not in failed]
            await conn.execute(
                f"UPDATE {self.schema}.outbox SET sent_at = now(), attempts = attempts + 1 "
                "WHERE id = ANY($1::bigint[])",
                sent_ids,
            )
            if failed:
                attempts = {row["id"]: row["attempts"] for row in rows}
                await conn.executemany(
                    f"""UPDATE {self.schema}.outbox
                        SET attempts = attempts + 1, last_error = $2,
                            available_at = now() + make_interval(secs => $3)
                        WHERE id = $1""",
                    [
                        (
                            i,
                            error[:1000],
                            backoff_delay(attempts[i], base=0.5, cap=self.max_backoff),
                        )
                        for i, error in failed.items()
                    ],
                )
        return len(rows)

    async def _publish(self, destination: str, messages: list[OutboxMessage]) -> dict[int, str]:
        publisher = self.publishers.get(destination)
        if publisher is None:
            error = f"no publisher for destination {destination!r}"
            log.error("outbox destination unknown", destination=destination)
            return {m.id: error for m in messages}
        chunks = [
            messages[start : start + publisher.max_batch]
            for start in range(0, len(messages), publisher.max_batch)
        ]
        # The chunks of one claim go out concurrently: one round trip of latency, not ten.
        # Each has a deadline, so a broker that never answers cannot hold the rows' locks.
        outcomes = await asyncio.gather(
            *(
                asyncio.wait_for(publisher.publish(destination, chunk), self.publish_timeout)
                for chunk in chunks
            ),
            return_exceptions=True,
        )
        failed: dict[int, str] = {}
        for chunk, outcome in zip(chunks, outcomes, strict=True):
            if isinstance(outcome, asyncio.CancelledError):
                raise outcome
            if isinstance(outcome, BaseException):
                failed.update({m.id: repr(outcome) for m in chunk})
            else:
                failed.update(outcome)
        if failed:
            OUTBOX_FAILED.labels(destination).inc(len(failed))
            log.warning(
                "outbox publish failed, will retry",
                destination=destination,
                failed=len(failed),
                error=next(iter(failed.values())),
            )
        OUTBOX_PUBLISHED.labels(destination).inc(len(messages) - len(failed))
        return failed

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(self.db.dsn, timeout=5)
            await conn.add_listener(f"{self.schema}_outbox", lambda *_: self._wake.set())
        except Exception as exc:
            if conn is not None:
                conn.terminate()
            if not is_unavailable(exc):
                raise
            log.warning("outbox listener unavailable, polling", error=repr(exc))
            return
        self._listener = conn

    async def _close_listener(self) -> None:
        if self._listener is not None:
            self._listener.terminate()
            self._listener = None

    async def _update_gauges(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_gauges < 1.0:
            return
        self._last_gauges = now
        async with self.db.acquire() as conn:
            row = await conn.fetchrow(
                f"""SELECT count(*) AS depth,
                           coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age
                    FROM {self.schema}.outbox WHERE sent_at IS NULL"""
            )
        OUTBOX_DEPTH.labels(self.schema).set(row["depth"])
        OUTBOX_OLDEST_AGE.labels(self.schema).set(float(row["age"]))

    async def _purge_sent(self, *, force: bool = False) -> int:
        """Delete rows sent longer ago than the retention (at most once a minute), in slices,
        so the outbox stays small; unsent rows are never touched."""
        now = time.monotonic()
        if not force and now - self._last_purge < PURGE_EVERY:
            return 0
        self._last_purge = now
        async with self.db.acquire() as conn:
            result = await conn.execute(
                f"""DELETE FROM {self.schema}.outbox WHERE id IN (
                        SELECT id FROM {self.schema}.outbox
                        WHERE sent_at < now() - make_interval(secs => $1) LIMIT $2)""",
                self.sent_retention,
                PURGE_SLICE,
            )
        return int(result.split()[-1])


def _message(row: asyncpg.Record) -> OutboxMessage:
    return OutboxMessage(
        id=row["id"],
        destination=row["destination"],
        message_id=str(row["message_id"]),
        message_type=row["message_type"],
        body=json.loads(row["body"]),
        attributes=json.loads(row["attributes"]),
        attempts=row["attempts"],
    )
