"""Delayed and guarded outbox rows: sent when due, and only while their stream is unchanged."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import REGISTRY

from shared.messaging import outbox
from shared.messaging.outbox import Guard
from shared.messaging.relay import OutboxRelay
from shared.messaging.sqs import SqsPublisher
from shared.storage.eventstore import append
from shared.storage.pool import Database
from tests.integration.foundation.test_outbox import DEST, Receiver, envelope, queue, sqs

__all__ = ["queue", "sqs"]  # fixtures of the outbox tests, used here too


def superseded_total() -> float:
    return REGISTRY.get_sample_value("outbox_superseded_total", {"destination": DEST}) or 0.0


async def test_a_guarded_row_goes_out_only_while_its_stream_is_at_the_guard_version(
    db: Database, schema: str, sqs: Any, queue: str
) -> None:
    moved, still = f"booking-{uuid.uuid4()}", f"booking-{uuid.uuid4()}"
    events = [envelope(n) for n in range(4)]
    later = datetime.now(UTC) + timedelta(hours=1)
    async with db.transaction() as conn:
        for stream in (moved, still):
            await append(conn, schema, stream, 0, [envelope(9)])
        await outbox.add(conn, schema, DEST, events[0], guard=Guard(moved, 1))
        await outbox.add(conn, schema, DEST, events[1], guard=Guard(still, 1))
        await outbox.add(conn, schema, DEST, events[2])
        await outbox.add(conn, schema, DEST, events[3], at=later, guard=Guard(still, 1))
        await append(conn, schema, moved, 1, [envelope(10)])  # the stream moves on
    before = superseded_total()
    relay = OutboxRelay(db, schema, {DEST: SqsPublisher(sqs, {DEST: queue})})
    try:
        assert await relay.drain_once(DEST) == 3  # the scheduled row is not due yet
        await relay.update_gauges()
    finally:
        await relay.close()

    receiver = Receiver(sqs, queue)
    await receiver.wait_for([str(events[1].id), str(events[2].id)])
    await receiver.drain()
    assert set(receiver.seen) == {str(events[1].id), str(events[2].id)}
    assert superseded_total() - before == 1
    async with db.acquire() as conn:
        rows = {
            str(row["message_id"]): row
            for row in await conn.fetch(
                f"SELECT message_id, sent_at, superseded_at, due_at FROM {schema}.outbox"
            )
        }
    dropped, scheduled = rows[str(events[0].id)], rows[str(events[3].id)]
    assert dropped["sent_at"] is not None and dropped["superseded_at"] is not None
    assert rows[str(events[1].id)]["superseded_at"] is None
    assert scheduled["sent_at"] is None and scheduled["due_at"] == later
    # A row scheduled for later is not a backlog: the gauges count it once it is due.
    assert REGISTRY.get_sample_value("outbox_depth", {"schema": schema}) == 0
    assert REGISTRY.get_sample_value("outbox_oldest_unsent_age_seconds", {"schema": schema}) == 0


async def test_messages_written_together_keep_their_order_schedule_guard_and_attributes(
    db: Database, schema: str
) -> None:
    stream = f"booking-{uuid.uuid4()}"
    events = [envelope(n) for n in range(3)]
    later = datetime.now(UTC) + timedelta(hours=1)
    messages = [
        outbox.Outgoing("first", events[0], attributes={"jobId": "j0"}),
        outbox.Outgoing("second", events[1], at=later, guard=Guard(stream, 2)),
        outbox.Outgoing("second", events[2], delay=3600),
    ]
    async with db.transaction() as conn:
        await outbox.add_all(conn, schema, messages)
        rows = await conn.fetch(
            f"""SELECT destination, message_id, message_type, attributes, available_at, due_at,
                       guard_stream, guard_version, now() AS now
                FROM {schema}.outbox ORDER BY id"""
        )
    assert [(r["destination"], r["message_id"]) for r in rows] == [
        ("first", events[0].id),
        ("second", events[1].id),
        ("second", events[2].id),
    ]
    first, scheduled, delayed = rows
    assert json.loads(first["attributes"])["jobId"] == "j0"
    assert json.loads(first["attributes"])["eventType"] == events[0].type
    assert first["due_at"] is None and first["available_at"] <= first["now"]
    assert scheduled["due_at"] == scheduled["available_at"] == later
    assert (scheduled["guard_stream"], scheduled["guard_version"]) == (stream, 2)
    assert delayed["due_at"] == delayed["now"] + timedelta(hours=1)
    assert (first["guard_stream"], delayed["guard_version"]) == (None, None)
