"""Read models as projections of the event store, kept live and rebuilt by replay.

A `Projector` owns some read-model tables: `reset` empties them and `apply` folds one event
into them. Commands call `record`, which appends events and applies every projector in the
caller's transaction, so a read model never disagrees with its events. `replay` rebuilds
all read models of a schema from the events in one transaction, the same `apply` code
running again over the same events, so the rebuilt rows equal the live ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import asyncpg

from shared.events.envelope import Envelope
from shared.storage.eventstore import append, append_next, read_all
from shared.storage.pool import Database


class Projector(Protocol):
    """One read model (one or more tables) derived from events."""

    name: str

    async def reset(self, conn: asyncpg.Connection) -> None:
        """Remove every row of the read model."""
        ...

    async def apply(self, conn: asyncpg.Connection, event: Envelope, version: int) -> None:
        """Fold one event (at `version` of its stream) into the read model.

        Must depend only on the event, never on the clock, so a replay gives the same rows.
        Events of a type the projector does not know are ignored.
        """
        ...


async def record(
    conn: asyncpg.Connection,
    schema: str,
    stream_id: str,
    expected_version: int,
    events: Sequence[Envelope],
    projectors: Sequence[Projector],
    *,
    actor: str | None = None,
) -> int:
    """Append events after `expected_version` and project them; return the new version.

    Runs in the caller's transaction; a concurrent writer to the stream raises a 409
    ConcurrencyConflict and the whole transaction rolls back.
    """
    version = await append(conn, schema, stream_id, expected_version, events, actor=actor)
    for offset, event in enumerate(events, start=expected_version + 1):
        for projector in projectors:
            await projector.apply(conn, event, offset)
    return version


async def record_next(
    conn: asyncpg.Connection,
    schema: str,
    stream_id: str,
    events: Sequence[Envelope],
    projectors: Sequence[Projector],
    *,
    actor: str | None = None,
) -> int:
    """Append events after the stream's last version (`append_next`) and project them.

    For streams whose writers are already serialized by a row lock of their own (a
    customer's wallet and cart) or that no one else writes: the version is computed in the
    INSERT, never read first. Returns the new version.
    """
    version = await append_next(conn, schema, stream_id, events, actor=actor)
    for offset, event in enumerate(events, start=version - len(events) + 1):
        for projector in projectors:
            await projector.apply(conn, event, offset)
    return version


async def replay(
    db: Database, schema: str, projectors: Sequence[Projector], *, batch_size: int = 1000
) -> int:
    """Rebuild the read models from every event of `schema`; return the events applied.

    One transaction: readers see the old rows until the new ones commit, and writers wait
    (the event table is share-locked), so no event is missed or applied twice.
    """
    async with db.transaction() as conn:
        await conn.execute(f"LOCK TABLE {schema}.events IN SHARE MODE")
        # Reset in reverse order, so tables referencing others are emptied first.
        for projector in reversed(projectors):
            await projector.reset(conn)
        applied, after = 0, 0
        while events := await read_all(conn, schema, after=after, limit=batch_size):
            for stored in events:
                for projector in projectors:
                    await projector.apply(conn, stored.envelope, stored.version)
            after = events[-1].position
            applied += len(events)
    return applied
