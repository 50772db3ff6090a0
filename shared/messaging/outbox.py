"""Transactional outbox: messages are written with the state change, then relayed.

`add()` runs inside the caller's transaction; the relays are woken when it is over. The relay
(shared.messaging.relay) publishes the unsent rows through a `Publisher` per destination. A
row may be scheduled for later (`at` or `delay`: it stays in the outbox until then, never in a
process's memory) and guarded by a stream's version (`Guard`): when it falls due after the
stream has moved on, the relay marks it superseded instead of publishing it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import asyncpg
from prometheus_client import Counter

from shared.events.envelope import Envelope
from shared.logging import get_logger
from shared.storage.pool import note_outbox_write

log = get_logger(__name__)

OUTBOX_SUPERSEDED = Counter(
    "outbox_superseded_total",
    "Guarded outbox rows set aside unsent: their stream had moved past the guard's version",
    ["destination"],
)


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    destination: str
    message_id: str
    message_type: str
    body: dict[str, Any]
    attributes: dict[str, str] = field(default_factory=dict)
    attempts: int = 0


@dataclass(frozen=True)
class Guard:
    """Send the row only while the event stream `stream_id` is still at `version`."""

    stream_id: str
    version: int


class Publisher(Protocol):
    """Sends messages to one kind of broker."""

    max_batch: int

    async def publish(self, destination: str, messages: list[OutboxMessage]) -> dict[int, str]:
        """Send the messages; return {outbox id: error} for the ones that failed."""
        ...


@dataclass(frozen=True)
class Outgoing:
    """An event to write to the outbox for `destination`: due at once, `delay` seconds from
    now, or `at`; with a `guard`, sent only while its stream is unchanged."""

    destination: str
    envelope: Envelope
    at: datetime | None = None
    delay: float = 0.0
    guard: Guard | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


async def add(
    conn: asyncpg.Connection,
    schema: str,
    destination: str,
    envelope: Envelope,
    *,
    delay: float = 0.0,
    at: datetime | None = None,
    guard: Guard | None = None,
    attributes: dict[str, str] | None = None,
) -> None:
    """Write an event to the outbox, inside the caller's transaction (see `Outgoing`)."""
    message = Outgoing(destination, envelope, at, delay, guard, attributes or {})
    await add_all(conn, schema, [message])


async def add_all(conn: asyncpg.Connection, schema: str, messages: Sequence[Outgoing]) -> None:
    """Write messages to the outbox in one statement, inside the caller's transaction; the
    relay sends them in this order. The relays are woken once the connection is released
    (`shared.storage.pool.Database`)."""
    if not messages:
        return
    note_outbox_write(conn, schema)
    await conn.execute(
        f"""INSERT INTO {schema}.outbox
                (destination, message_id, message_type, body, attributes, available_at, due_at,
                 guard_stream, guard_version)
            SELECT m.destination, m.id, m.type, m.body, m.attributes, t.due,
                   CASE WHEN t.due > now() THEN t.due END, m.guard_stream, m.guard_version
            FROM unnest($1::text[], $2::uuid[], $3::text[], $4::jsonb[], $5::jsonb[],
                        $6::float8[], $7::timestamptz[], $8::text[], $9::int[])
                     WITH ORDINALITY
                     AS m(destination, id, type, body, attributes, delay, at, guard_stream,
                          guard_version, n),
                 LATERAL (SELECT coalesce(m.at, now() + make_interval(secs => m.delay))) AS t(due)
            ORDER BY m.n""",
        [m.destination for m in messages],
        [m.envelope.id for m in messages],
        [m.envelope.type for m in messages],
        [m.envelope.model_dump_json() for m in messages],
        [json.dumps(_attributes(m)) for m in messages],
        [m.delay for m in messages],
        [m.at for m in messages],
        [m.guard.stream_id if m.guard else None for m in messages],
        [m.guard.version if m.guard else None for m in messages],
    )


def _attributes(message: Outgoing) -> dict[str, str]:
    envelope = message.envelope
    attrs = {"eventType": envelope.type}
    if envelope.correlationid:
        attrs["correlationId"] = envelope.correlationid
    if envelope.traceparent:
        attrs["traceparent"] = envelope.traceparent
    attrs.update(message.attributes)
    return attrs


async def unsent_job_ids(
    conn: asyncpg.Connection, schema: str, destination: str, job_ids: Sequence[str]
) -> set[str]:
    """Which of these job ids (the `jobId` attribute) still wait unsent in the outbox: in
    transit, not lost, so whoever queues lost jobs again must leave them be."""
    if not job_ids:
        return set()
    found = await conn.fetchval(
        f"""SELECT coalesce(array_agg(attributes->>'jobId'), '{{}}') FROM {schema}.outbox
            WHERE sent_at IS NULL AND destination = $1
              AND attributes->>'jobId' = ANY($2::text[])""",
        destination,
        list(job_ids),
    )
    return set(found)


def superseded(schema: str) -> str:
    """SQL of an outbox row `o` of `schema`: true when it is guarded and its stream has
    moved past the guard's version."""
    return f"""(o.guard_stream IS NOT NULL AND EXISTS (
        SELECT 1 FROM {schema}.events e
        WHERE e.stream_id = o.guard_stream AND e.version > o.guard_version))"""


async def set_aside_superseded(
    conn: asyncpg.Connection, schema: str, destination: str, rows: list[asyncpg.Record]
) -> list[asyncpg.Record]:
    """Mark the claimed rows whose `superseded` column is true superseded (done, never
    published: a reminder of a booking changed since) and return the others, to publish.
    The relay reads the guard in its claim's transaction, just before the rows would go out."""
    dropped = [row["id"] for row in rows if row["superseded"]]
    if not dropped:
        return rows
    await conn.execute(
        f"UPDATE {schema}.outbox SET sent_at = now(), superseded_at = now() "
        "WHERE id = ANY($1::bigint[])",
        dropped,
    )
    OUTBOX_SUPERSEDED.labels(destination).inc(len(dropped))
    log.info(
        "outbox rows superseded, not sent: their stream moved on",
        destination=destination,
        superseded=len(dropped),
    )
    return [row for row in rows if not row["superseded"]]
