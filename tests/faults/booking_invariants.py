"""The booking invariants, checked against the database: each booking's history replayed
through the domain's state machine must be legal and end in the row's state, and every slot's
status must agree with the booking holding it."""

from __future__ import annotations

import dataclasses
import uuid

import asyncpg

from services.booking_api.commands import booking_stream
from services.booking_api.domain import (
    ACTIVE,
    RESCHEDULED,
    STATUS_OF,
    Booking,
    SlotStatus,
    Status,
    slot_status,
)
from shared.storage.eventstore import read_stream


async def replayed(conn: asyncpg.Connection, booking_id: uuid.UUID) -> tuple[Booking, list[str]]:
    """The booking as its events leave it, and the status after each event. Raises (an
    InvalidTransition, a Conflict or an AssertionError) on the first event the state machine
    forbids or a gap in the stream's versions."""
    events = await read_stream(conn, "booking", booking_stream(booking_id))
    assert events, f"booking {booking_id} has no events"
    assert [e.version for e in events] == list(range(1, len(events) + 1)), (
        f"booking {booking_id}: stream versions {[e.version for e in events]}"
    )
    first = events[0].envelope
    assert first.type == "BOOKING_CREATED", f"booking {booking_id} starts with {first.type}"
    data = first.data
    booking = Booking(
        id=booking_id,
        slot_id=uuid.UUID(str(data["slot_id"])),
        user_id=str(data["user_id"]),
        provider_id=str(data["provider_id"]),
        status=Status.PENDING,
        starts_at=data["starts_at"],
        ends_at=data["ends_at"],
        version=1,
    )
    statuses = [str(Status.PENDING)]
    for stored in events[1:]:
        event = stored.envelope
        if event.type == RESCHEDULED:
            new_slot = uuid.UUID(str(event.data["slot_id"]))
            assert str(event.data["from_slot_id"]) == str(booking.slot_id), (
                f"booking {booking_id} moved from {event.data['from_slot_id']}, "
                f"but it was in {booking.slot_id}"
            )
            booking.check_move(new_slot, str(event.data["provider_id"]))
            booking = dataclasses.replace(booking, status=Status.PENDING, slot_id=new_slot)
        else:
            target = STATUS_OF[event.type]
            booking.transition(target)  # raises if the machine forbids it
            booking = dataclasses.replace(booking, status=target)
        booking = dataclasses.replace(booking, version=stored.version)
        statuses.append(str(booking.status))
    return booking, statuses


async def check_bookings(conn: asyncpg.Connection, booking_ids: list[uuid.UUID]) -> list[str]:
    """Every booking's row equals its replayed history; returns the problems found."""
    problems = []
    rows = await conn.fetch(
        "SELECT id, slot_id, status, version FROM booking.bookings WHERE id = ANY($1::uuid[])",
        booking_ids,
    )
    assert len(rows) == len(set(booking_ids)), "every booking answered 201 has a row"
    for row in rows:
        try:
            booking, _ = await replayed(conn, row["id"])
        except Exception as exc:
            problems.append(f"booking {row['id']}: illegal history: {exc!r}")
            continue
        state = (str(booking.status), booking.slot_id, booking.version)
        if state != (row["status"], row["slot_id"], row["version"]):
            problems.append(f"booking {row['id']}: row {dict(row)}, history says {state}")
    return problems


async def check_slots(conn: asyncpg.Connection, slot_ids: list[uuid.UUID]) -> list[str]:
    """At most one active booking per slot, and each slot's status is the one that booking
    (or its absence) implies; returns the problems found."""
    problems = []
    rows = await conn.fetch(
        "SELECT s.id, s.status, array_remove(array_agg(b.status::text), NULL) AS active "
        "FROM booking.slots s LEFT JOIN booking.bookings b "
        "ON b.slot_id = s.id AND b.status = ANY($2::text[]) "
        "WHERE s.id = ANY($1::uuid[]) GROUP BY s.id, s.status",
        slot_ids,
        [str(s) for s in ACTIVE],
    )
    assert len(rows) == len(set(slot_ids)), "every slot has a row"
    for row in rows:
        active = list(row["active"])
        if len(active) > 1:
            problems.append(f"slot {row['id']}: {len(active)} active bookings {active}")
            continue
        expected = slot_status(Status(active[0])) if active else SlotStatus.OPEN
        if row["status"] != str(expected):
            problems.append(
                f"slot {row['id']}: status {row['status']}, its booking says {expected}"
            )
    return problems
