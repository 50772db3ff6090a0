"""The outbox relay: publishes unsent outbox rows, one background loop per destination.

Rows are claimed in batches with `FOR UPDATE SKIP LOCKED`, so several relays share the work
without sending a row twice; a loop is woken at once when rows are written (directly by its
own process's pool, by LISTEN/NOTIFY from other processes), with a polling fallback. A row
the broker refuses is retried with exponential backoff and jitter; while the broker is down
the loop backs off instead, and the rows stay due. Nothing is dropped. A guarded row whose
stream has moved past its guard is marked superseded, never published.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Mapping

import asyncpg
from prometheus_client import Counter, Gauge

from shared.background import Loop
from shared.errors import DependencyUnavailable
from shared.logging import get_logger
from shared.messaging.outbox import OutboxMessage, Publisher, set_aside_superseded, superseded
from shared.retry import backoff_delay, chunked
from shared.storage.pool import Database, is_unavailable, outbox_channel

log = get_logger(__name__)

OUTBOX_DEPTH = Gauge("outbox_depth", "Unsent outbox rows", ["schema"])
OUTBOX_OLDEST_AGE = Gauge(
    "outbox_oldest_unsent_age_seconds", "Age of the oldest unsent outbox row", ["schema"]
)
OUTBOX_PUBLISHED = Counter("outbox_published_total", "Outbox rows published", ["destination"])
PURGE_EVERY = 60.0  # seconds between purges of sent rows (at once again after a full slice)
PURGE_SLICE = 5000  # rows deleted per statement at the most
GAUGE_EVERY = 1.0  # seconds between refreshes of the depth gauges

OUTBOX_FAILED = Counter("outbox_failed_total", "Outbox publish failures", ["destination"])


class OutboxRelay:
    """Publishes a schema's outbox, one background loop per destination.

    Each destination has a loop of its own, so a slow or failing broker never delays the
    rows of another. Beside them, a loop keeps the depth gauges fresh and one purges sent
    rows. `loops()` gives them to the background runtime; `run()` runs them until cancelled.
    """

    def __init__(
        self,
        db: Database,
        schema: str,
        publishers: Mapping[str, Publisher],
        *,
        batch_size: int = 100,
        poll_interval: float = 2.0,
        max_backoff: float = 60.0,
        sent_retention: float = 7 * 86_400.0,
        publish_timeout: float = 10.0,
    ) -> None:
        self.db = db
        self.schema = schema
        self.publishers = dict(publishers)
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.sent_retention = sent_retention
        self.publish_timeout = publish_timeout
        self._wakes = {destination: asyncio.Event() for destination in self.publishers}
        self._listener: asyncpg.Connection | None = None
        self._listening = asyncio.Lock()
        db.on_outbox_write(schema, self._wake_all)  # this process's writes wake it directly

    def loops(self, name: str = "outbox-relay") -> list[Loop]:
        """The relay's loops: `<name>:<destination>` each, `<name>:gauges`, `<name>:purge`."""
        ready = self.db.wait_ready
        loops = [
            Loop.periodic(
                f"{name}:{destination}",
                functools.partial(self.relay_step, destination),
                interval=self.poll_interval,
                wake=self._wakes[destination],
                start_when=ready,
            )
            for destination in self.publishers
        ]
        loops.append(
            Loop.periodic(
                f"{name}:gauges", self.update_gauges, interval=GAUGE_EVERY, start_when=ready
            )
        )
        loops.append(
            Loop.periodic(f"{name}:purge", self.purge_step, interval=PURGE_EVERY, start_when=ready)
        )
        return loops

    async def run(self) -> None:
        """Run every loop of the relay until cancelled, then stop them and close."""
        loops = self.loops()
        for loop in loops:
            loop.start()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.gather(*(loop.stop() for loop in loops))
            await self.close()

    async def close(self) -> None:
        await self._close_listener()

    async def relay_step(self, destination: str) -> bool:
        """Publish one batch of `destination`'s due rows; True while a backlog remains."""
        try:
            await self._ensure_listener()
            return await self.drain_once(destination) >= self.batch_size
        except DependencyUnavailable:
            raise  # the broker, not the database: the listener is fine
        except Exception:
            await self._close_listener()  # a broken listener is opened anew by the next step
            raise

    async def drain_once(self, destination: str | None = None) -> int:
        """Claim one batch of due rows of `destination` (None: of every destination, one after
        another), publish them, record the outcome. Return the rows handled."""
        if destination is None:
            return sum([await self.drain_once(name) for name in self.publishers])
        async with self.db.transaction() as conn:
            rows = await conn.fetch(
                f"""SELECT id, destination, message_id, message_type, body, attributes, attempts,
                           {superseded(self.schema)} AS superseded
                    FROM {self.schema}.outbox o
                    WHERE sent_at IS NULL AND available_at <= now() AND destination = $2
                    ORDER BY id LIMIT $1 FOR UPDATE OF o SKIP LOCKED""",
                self.batch_size,
                destination,
            )
            if not rows:
                return 0
            handled = len(rows)  # a guarded row whose stream moved on is set aside, unsent
            if not (rows := await set_aside_superseded(conn, self.schema, destination, rows)):
                return handled
            failed, outage = await self._publish(destination, [_message(row) for row in rows])
            sent_ids = [row["id"] for row in rows if row["id"] not in failed]
            await conn.execute(
                f"UPDATE {self.schema}.outbox SET sent_at = now(), attempts = attempts + 1 "
                "WHERE id = ANY($1::bigint[])",
                sent_ids,
            )
            if failed:
                # A broker that answered no chunk is down: the rows stay due and the loop
                # backs off instead, so they all go the moment it answers again. Rows the
                # broker refused one by one back off each on its own.
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
                            0.0
                            if outage
                            else backoff_delay(attempts[i], base=0.5, cap=self.max_backoff),
                        )
                        for i, error in failed.items()
                    ],
                )
        if outage:
            raise DependencyUnavailable(f"{destination}: {outage}")
        return handled

    async def _publish(
        self, destination: str, messages: list[OutboxMessage]
    ) -> tuple[dict[int, str], str | None]:
        """Publish `messages`; return the ids that failed with their errors, and the error
        of the broker when no chunk got through because it raised (an outage)."""
        publisher = self.publishers.get(destination)
        if publisher is None:
            error = f"no publisher for destination {destination!r}"
            log.error("outbox destination unknown", destination=destination)
            return {m.id: error for m in messages}, None
        chunks = [list(chunk) for chunk in chunked(messages, publisher.max_batch)]
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
        raised = 0
        for chunk, outcome in zip(chunks, outcomes, strict=True):
            if isinstance(outcome, asyncio.CancelledError):
                raise outcome
            if isinstance(outcome, BaseException):
                failed.update({m.id: repr(outcome) for m in chunk})
                raised += 1
            else:
                failed.update(outcome)
        OUTBOX_FAILED.labels(destination).inc(len(failed))
        OUTBOX_PUBLISHED.labels(destination).inc(len(messages) - len(failed))
        if raised == len(chunks):  # the loop logs the outage and backs off
            return failed, next(iter(failed.values()))
        if failed:
            log.warning(
                "outbox publish failed, will retry",
                destination=destination,
                failed=len(failed),
                error=next(iter(failed.values())),
            )
        return failed, None

    async def _ensure_listener(self) -> None:
        async with self._listening:
            if self._listener is None or self._listener.is_closed():
                await self._listen()

    def _wake_all(self) -> None:
        for wake in self._wakes.values():
            wake.set()

    def _notified(self, _conn: object, _pid: int, _channel: str, sender: str) -> None:
        if sender != self.db.token:  # another process wrote; this one's writes woke it already
            self._wake_all()

    async def _listen(self) -> None:
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(self.db.dsn, timeout=5)
            await conn.add_listener(outbox_channel(self.schema), self._notified)
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

    async def update_gauges(self) -> None:
        """Refresh `outbox_depth` and `outbox_oldest_unsent_age_seconds` of the schema."""
        async with self.db.acquire() as conn:
            # A row scheduled for later counts once due, and is as old as the time since.
            row = await conn.fetchrow(
                f"""SELECT count(*) AS depth,
                           coalesce(extract(epoch FROM now() - min(due)), 0) AS age
                    FROM (SELECT coalesce(due_at, created_at) AS due FROM {self.schema}.outbox
                          WHERE sent_at IS NULL) unsent
                    WHERE due <= now()"""
            )
        OUTBOX_DEPTH.labels(self.schema).set(row["depth"])
        OUTBOX_OLDEST_AGE.labels(self.schema).set(float(row["age"]))

    async def purge_step(self) -> bool:
        """Delete one slice of rows sent longer ago than the retention; True when a whole
        slice went, so the next follows at once and the outbox stays small at any write
        rate. Unsent rows are never touched."""
        return await self.purge_sent() >= PURGE_SLICE

    async def purge_sent(self) -> int:
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
