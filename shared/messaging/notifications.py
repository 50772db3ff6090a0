"""Notifications: stored in-app, then delivered through each configured channel once.

A consumer's handler calls `Notifier.notify()` in the transaction that marks its event
processed: it stores the notification (in-app: readable at once) and one `pending` delivery
row per enabled channel (email, webhook). The message is then deleted from SQS; delivery is
no longer its business. A `Dispatcher` (woken right after the commit, and polling) claims due
deliveries with `FOR UPDATE SKIP LOCKED`, sends them concurrently, and marks those that went
out `sent` in one statement per batch. A failing channel only reschedules its own row with
exponential backoff, so a webhook that is down never delays an email; after
`notification_max_attempts` the row is `failed` (metric, log).

Because the processed-event record and the delivery rows commit together, a redelivered
message never creates a second delivery. A claim leases its row for `LEASE` seconds: if the
process dies mid-send, the row is sent again after the lease (at least once; receivers can
drop a repeat by the notification id carried in every channel).

Each service using this keeps `<schema>.notifications` and `<schema>.deliveries` tables
(see the consumers' migrations).
"""

from __future__ import annotations

import asyncio
import json
import string
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from prometheus_client import Counter

from shared.background import Loop
from shared.config import Settings
from shared.http.lifecycle import DATABASE, run_loop
from shared.logging import get_logger
from shared.messaging.channels import Channel, Outgoing, enabled_channels
from shared.retry import backoff_delay
from shared.storage.pool import Database

log = get_logger(__name__)

LEASE = 60.0
SENT = Counter("notifications_sent_total", "Notifications delivered", ["channel"])
SEND_FAILED = Counter(
    "notifications_send_failed_total", "Delivery attempts that failed", ["channel", "final"]
)


class Templates:
    """Plain-text templates, one file per kind: `Subject: ...`, a blank line, the body.

    Placeholders are `$name` (string.Template); unknown ones are left as they are.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cache: dict[str, tuple[string.Template, string.Template]] = {}
        for path in sorted(directory.glob("*.txt")):
            head, _, body = path.read_text().partition("\n\n")
            if not head.startswith("Subject: "):
                raise ValueError(f"template {path} must start with 'Subject: '")
            subject = head.removeprefix("Subject: ").strip()
            self._cache[path.stem] = (string.Template(subject), string.Template(body))

    def kinds(self) -> list[str]:
        return sorted(self._cache)

    def render(self, kind: str, values: Mapping[str, Any]) -> tuple[str, str]:
        subject, body = self._cache[kind]
        flat = {k: "" if v is None else str(v) for k, v in values.items()}
        return subject.safe_substitute(flat), body.safe_substitute(flat)


async def store(
    conn: asyncpg.Connection,
    schema: str,
    *,
    event_id: uuid.UUID,
    recipient_id: str,
    kind: str,
    subject: str,
    body: str,
    data: Mapping[str, Any],
    channels: Sequence[str],
) -> uuid.UUID | None:
    """Store a notification and its pending deliveries; None if this event already has one."""
    notification_id = await conn.fetchval(
        f"""INSERT INTO {schema}.notifications
                (id, event_id, recipient_id, kind, subject, body, data)
            VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
            ON CONFLICT (event_id, recipient_id) DO NOTHING RETURNING id""",
        uuid.uuid4(),
        event_id,
        recipient_id,
        kind,
        subject,
        body,
        json.dumps(data, default=str),
    )
    if notification_id is not None and channels:
        await conn.executemany(
            f"INSERT INTO {schema}.deliveries (notification_id, channel) VALUES ($1, $2)",
            [(notification_id, channel) for channel in channels],
        )
    return notification_id  # type: ignore[no-any-return]


class Notifier:
    """Renders a notification from its template and stores it for every enabled channel."""

    def __init__(self, schema: str, templates: Templates, channels: Sequence[str]) -> None:
        self.schema = schema
        self.templates = templates
        self.channels = list(channels)

    async def notify(
        self,
        conn: asyncpg.Connection,
        event_id: uuid.UUID,
        recipient_id: str,
        kind: str,
        values: Mapping[str, Any],
    ) -> uuid.UUID | None:
        subject, body = self.templates.render(kind, {**values, "recipient_id": recipient_id})
        return await store(
            conn,
            self.schema,
            event_id=event_id,
            recipient_id=recipient_id,
            kind=kind,
            subject=subject,
            body=body,
            data=values,
            channels=self.channels,
        )


class Dispatcher:
    def __init__(
        self,
        db: Database,
        schema: str,
        channels: Sequence[Channel],
        *,
        max_attempts: int = 8,
        retry_base: float = 1.0,
        poll_interval: float = 1.0,
        batch_size: int = 50,
    ) -> None:
        self.db = db
        self.schema = schema
        self.channels = {channel.name: channel for channel in channels}
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Dispatch at once (a notification was just stored)."""
        self._wake.set()

    def loop(self, name: str = "notifications") -> Loop:
        """The dispatcher's background loop: a batch every `poll_interval`, at once when woken
        or while a backlog remains."""
        return Loop.periodic(
            name,
            self.dispatch_step,
            interval=self.poll_interval,
            wake=self._wake,
            start_when=self.db.wait_ready,
        )

    async def dispatch_step(self) -> bool:
        return await self.dispatch_once() >= self.batch_size

    async def dispatch_once(self) -> int:
        """Claim due deliveries, send them concurrently, record each outcome."""
        if not self.channels:
            return 0
        async with self.db.acquire() as conn:
            rows = await conn.fetch(
                f"""UPDATE {self.schema}.deliveries d
                    SET attempts = d.attempts + 1,
                        next_attempt_at = now() + make_interval(secs => $2)
                    FROM (SELECT notification_id, channel FROM {self.schema}.deliveries
                          WHERE status = 'pending' AND next_attempt_at <= now()
                            AND channel = ANY($3::text[])
                          ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) due,
                         {self.schema}.notifications n
                    WHERE d.notification_id = due.notification_id AND d.channel = due.channel
                      AND n.id = d.notification_id
                    RETURNING d.notification_id, d.channel, d.attempts, n.recipient_id,
                              n.kind, n.subject, n.body, n.data, n.created_at""",
                self.batch_size,
                LEASE,
                list(self.channels),
            )
        if rows:
            sent = await asyncio.gather(*(self._deliver(row) for row in rows))
            await self._mark_sent([row for row, ok in zip(rows, sent, strict=True) if ok])
        return len(rows)

    async def _deliver(self, row: asyncpg.Record) -> bool:
        """Send one claimed delivery; True when it went out (a failure is recorded here)."""
        channel = self.channels[row["channel"]]
        outgoing = Outgoing(
            id=str(row["notification_id"]),
            recipient_id=row["recipient_id"],
            kind=row["kind"],
            subject=row["subject"],
            body=row["body"],
            data=json.loads(row["data"]),
            created_at=row["created_at"],
        )
        try:
            await channel.send(outgoing)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._failed(row, repr(exc))
            return False
        SENT.labels(channel.name).inc()
        return True

    async def _mark_sent(self, rows: Sequence[asyncpg.Record]) -> None:
        """Mark a batch's sent deliveries in one statement: one pooled connection per batch,
        not one per delivery, so a batch of 50 does not take the connections the consumer's
        handlers wait for."""
        if not rows:
            return
        async with self.db.acquire() as conn:
            await conn.execute(
                f"""UPDATE {self.schema}.deliveries d SET status = 'sent', sent_at = now(),
                        last_error = NULL
                    FROM unnest($1::uuid[], $2::text[]) AS s(notification_id, channel)
                    WHERE d.notification_id = s.notification_id AND d.channel = s.channel""",
                [row["notification_id"] for row in rows],
                [row["channel"] for row in rows],
            )

    async def _failed(self, row: asyncpg.Record, error: str) -> None:
        final = row["attempts"] >= self.max_attempts
        SEND_FAILED.labels(row["channel"], str(final).lower()).inc()
        delay = backoff_delay(row["attempts"], base=self.retry_base, cap=3600.0)
        log.warning(
            "notification delivery failed",
            channel=row["channel"],
            notification_id=str(row["notification_id"]),
            attempt=row["attempts"],
            final=final,
            error=error,
        )
        async with self.db.acquire() as conn:
            await conn.execute(
                f"""UPDATE {self.schema}.deliveries
                    SET status = CASE WHEN $3 THEN 'failed' ELSE 'pending' END,
                        last_error = $4,
                        next_attempt_at = now() + make_interval(secs => $5)
                    WHERE notification_id = $1 AND channel = $2""",
                row["notification_id"],
                row["channel"],
                final,
                error[:1000],
                delay,
            )


DISPATCHER = web.AppKey("notification_dispatcher", Dispatcher)
TEMPLATES = web.AppKey("notification_templates", Templates)


def use_notifications(app: web.Application, settings: Settings, schema: str) -> None:
    """Open the channels of the settings and run a Dispatcher for the application's life.

    The dispatcher is in `app[DISPATCHER]` once the application has started.
    """

    async def channels(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            app[DISPATCHER] = Dispatcher(
                app[DATABASE],
                schema,
                enabled_channels(settings, session),
                max_attempts=settings.notification_max_attempts,
                retry_base=settings.notification_retry_base,
            )
            yield

    app.cleanup_ctx.append(channels)
    run_loop(app, "notifications", lambda app: app[DISPATCHER].loop())
