"""The event store: append and read back, optimistic concurrency."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from shared.events import make_envelope
from shared.events.checkout import LevelUpgraded
from shared.events.envelope import Envelope, Trace
from shared.storage import eventstore
from shared.storage.eventstore import ConcurrencyConflict
from shared.storage.pool import Database


def level_upgraded(customer: str, new_level: int, trace: Trace | None = None) -> Envelope:
    payload = LevelUpgraded(
        customer_id=customer, old_level=new_level - 1, new_level=new_level, total_points=100
    )
    return make_envelope(payload, source="test", subject=customer, trace=trace or Trace())


async def test_appended_events_read_back_identical(db: Database, schema: str) -> None:
    stream = f"customer-{uuid.uuid4()}"
    trace = Trace("corr-1", "00-aa-bb-01")
    events = [level_upgraded(stream, 2, trace), level_upgraded(stream, 3, trace)]
    async with db.transaction() as conn:
        assert await eventstore.append(conn, schema, stream, 0, events, actor="admin-1") == 2
    async with db.transaction() as conn:
        assert await eventstore.append(conn, schema, stream, 2, [level_upgraded(stream, 4)]) == 3
    async with db.acquire() as conn:
        stored = await eventstore.read_stream(conn, schema, stream)
        assert await eventstore.stream_version(conn, schema, stream) == 3
        everything = await eventstore.read_all(conn, schema)
    assert [s.version for s in stored] == [1, 2, 3]
    assert [s.envelope for s in stored[:2]] == events
    assert stored[0].actor == "admin-1"
    assert stored[2].actor is None
    assert stored[0].envelope.correlationid == "corr-1"
    assert stored[1].envelope.payload() == events[1].payload()
    assert [s.position for s in everything] == sorted(s.position for s in everything)
    assert {s.envelope.id for s in everything} == {s.envelope.id for s in stored}


async def test_read_all_pages_after_a_position(db: Database, schema: str) -> None:
    stream = f"customer-{uuid.uuid4()}"
    async with db.transaction() as conn:
        await eventstore.append(
            conn, schema, stream, 0, [level_upgraded(stream, n) for n in (2, 3, 4)]
        )
        first = await eventstore.read_all(conn, schema, limit=2)
        rest = await eventstore.read_all(conn, schema, after=first[-1].position)
    assert [s.version for s in first + rest] == [1, 2, 3]


async def test_concurrent_writers_with_one_expected_version_one_wins(
    db: Database, schema: str
) -> None:
    stream = f"customer-{uuid.uuid4()}"
    async with db.transaction() as conn:
        await eventstore.append(conn, schema, stream, 0, [level_upgraded(stream, 2)])
    candidates = [level_upgraded(stream, 10 + n) for n in range(5)]
    start = asyncio.Event()

    async def write(event: Envelope) -> Envelope:
        async with db.transaction() as conn:
            await start.wait()
            await eventstore.append(conn, schema, stream, 1, [event])
            await conn.execute("SELECT pg_sleep(0.05)")  # hold the version while others try
        return event

    tasks = [asyncio.create_task(write(e)) for e in candidates]
    await asyncio.sleep(0)
    start.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    winners = [r for r in results if isinstance(r, Envelope)]
    conflicts = [r for r in results if isinstance(r, ConcurrencyConflict)]
    assert len(winners) == 1
    assert len(conflicts) == 4
    assert all(c.status == 409 for c in conflicts)
    async with db.acquire() as conn:
        stored = await eventstore.read_stream(conn, schema, stream)
    assert [s.version for s in stored] == [1, 2]
    assert stored[1].envelope == winners[0]


async def test_a_stale_writer_is_a_conflict_and_changes_nothing(db: Database, schema: str) -> None:
    stream = f"customer-{uuid.uuid4()}"
    async with db.transaction() as conn:
        await eventstore.append(conn, schema, stream, 0, [level_upgraded(stream, 2)])
    with pytest.raises(ConcurrencyConflict) as caught:
        async with db.transaction() as conn:
            await eventstore.append(conn, schema, stream, 0, [level_upgraded(stream, 9)])
    assert caught.value.to_dict()["status"] == 409
    async with db.acquire() as conn:
        stored = await eventstore.read_stream(conn, schema, stream)
    assert [s.envelope.payload().model_dump()["new_level"] for s in stored] == [2]
