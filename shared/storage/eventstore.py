"""Append-only event store with optimistic concurrency, one table per schema.

Callers append inside their own transaction and update read models in that same
transaction, so a projection never disagrees with the events it came from.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from shared.errors import Conflict
from shared.events.envelope import Envelope


class ConcurrencyConflict(Conflict):
    """Another writer appended to the stream first."""

    def __init__(self, stream_id: str, expected_version: int) -> None:
        super().__init__(
            f"stream {stream_id} changed concurrently (expected version {expected_version})",
            title="Concurrent modification",
        )


async def append(
    conn: asyncpg.Connection,
    schema: str,
    stream_id: str,
    expected_version: int,
    events: Sequence[Envelope],
    *,
    actor: str | None = None,
) -> int:
    """Append events after `expected_version`; return the stream's new version.

    One statement for the whole batch; the unique (stream, version) key refuses it whole
    when another writer appended first.
    """
    try:
        await conn.execute(
            f"""INSERT INTO {schema}.events
                    (event_id, stream_id, version, type, data, metadata, occurred_at)
                SELECT e.id, $1, $2 + e.n, e.type, e.data, e.metadata, e.at
                FROM unnest($3::uuid[], $4::text[], $5::jsonb[], $6::jsonb[], $7::timestamptz[])
                     WITH ORDINALITY AS e(id, type, data, metadata, at, n)""",
            stream_id,
            expected_version,
            *_columns(events, actor),
        )
    except asyncpg.UniqueViolationError as exc:
        raise ConcurrencyConflict(stream_id, expected_version) from exc
    return expected_version + len(events)


async def append_next(
    conn: asyncpg.Connection,
    schema: str,
    stream_id: str,
    events: Sequence[Envelope],
    *,
    actor: str | None = None,
    attempts: int = 100,
) -> int:
    """Append events after the stream's last version; return the stream's new version.

    The next version is computed by the INSERT itself, under the unique (stream, version)
    key: no version is read first and written later. Two writers that compute the same
    version collide on the key; the loser's INSERT waits for the winner, skips the taken
    versions (ON CONFLICT DO NOTHING), takes back what it did insert and tries again, its
    next statement seeing the winner's events: every writer lands, one after the other.
    Run it in a READ COMMITTED transaction (the default), where each statement sees what
    was committed before it.
    """
    if not events:
        raise ValueError("nothing to append")
    for _ in range(attempts):
        row = await conn.fetchrow(
            f"""WITH appended AS (
                    INSERT INTO {schema}.events
                        (event_id, stream_id, version, type, data, metadata, occurred_at)
                    SELECT e.id, $1, last.version + e.n, e.type, e.data, e.metadata, e.at
                    FROM (SELECT coalesce(max(version), 0) AS version
                          FROM {schema}.events WHERE stream_id = $1) AS last,
                         unnest($2::uuid[], $3::text[], $4::jsonb[], $5::jsonb[],
                                $6::timestamptz[])
                             WITH ORDINALITY AS e(id, type, data, metadata, at, n)
                    ON CONFLICT (stream_id, version) DO NOTHING
                    RETURNING event_id, version)
                SELECT count(*) AS appended, max(version) AS version,
                       array_agg(event_id) AS ids
                FROM appended""",
            stream_id,
            *_columns(events, actor),
        )
        if row["appended"] == len(events):
            return int(row["version"])
        if row["appended"]:
            # Some versions were free, some taken: the batch must stay contiguous.
            await conn.execute(
                f"DELETE FROM {schema}.events WHERE event_id = ANY($1::uuid[])", row["ids"]
            )
    raise ConcurrencyConflict(stream_id, await stream_version(conn, schema, stream_id))


def _columns(events: Sequence[Envelope], actor: str | None) -> list[list[Any]]:
    """The events as the arrays an INSERT ... SELECT FROM unnest takes: ids, types, data,
    metadata, times."""
    return [
        [event.id for event in events],
        [event.type for event in events],
        [json.dumps(event.data) for event in events],
        [json.dumps(_metadata(event, actor)) for event in events],
        [event.time for event in events],
    ]


def _metadata(event: Envelope, actor: str | None) -> dict[str, Any]:
    return {
        "source": event.source,
        "subject": event.subject,
        "schemaversion": event.schemaversion,
        "correlationid": event.correlationid,
        "causationid": event.causationid,
        "traceparent": event.traceparent,
        "actor": actor,
    }


def _envelope(row: asyncpg.Record) -> Envelope:
    meta = json.loads(row["metadata"])
    return Envelope(
        id=row["event_id"],
        type=row["type"],
        source=meta["source"],
        subject=meta["subject"],
        time=row["occurred_at"],
        schemaversion=meta.get("schemaversion", 1),
        correlationid=meta.get("correlationid"),
        causationid=meta.get("causationid"),
        traceparent=meta.get("traceparent"),
        data=json.loads(row["data"]),
    )


class StoredEvent:
    """An event with its position in the store, its stream version and who caused it."""

    __slots__ = ("actor", "envelope", "position", "stream_id", "version")

    def __init__(self, row: asyncpg.Record) -> None:
        self.position: int = row["position"]
        self.stream_id: str = row["stream_id"]
        self.version: int = row["version"]
        self.actor: str | None = json.loads(row["metadata"]).get("actor")
        self.envelope = _envelope(row)


_COLUMNS = "position, event_id, stream_id, version, type, data, metadata, occurred_at"


async def read_stream(conn: asyncpg.Connection, schema: str, stream_id: str) -> list[StoredEvent]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM {schema}.events WHERE stream_id = $1 ORDER BY version",
        stream_id,
    )
    return [StoredEvent(row) for row in rows]


async def read_all(
    conn: asyncpg.Connection, schema: str, *, after: int = 0, limit: int = 1000
) -> list[StoredEvent]:
    """Events of every stream in commit order of their position, for replays."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM {schema}.events WHERE position > $1 ORDER BY position LIMIT $2",
        after,
        limit,
    )
    return [StoredEvent(row) for row in rows]


async def stream_version(conn: asyncpg.Connection, schema: str, stream_id: str) -> int:
    version = await conn.fetchval(
        f"SELECT max(version) FROM {schema}.events WHERE stream_id = $1", stream_id
    )
    return int(version or 0)
