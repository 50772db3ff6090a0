"""What changes state: create a slot, book it, move a booking through its life.

Each command runs in the caller's transaction and does three things there: append the
event (expected stream version), project it into the read models, and write it to the
outbox for every destination that must hear of it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

import asyncpg

from services.booking_api import storage
from services.booking_api.domain import (
    DESTINATIONS,
    EVENT_OF,
    Status,
    check_transition,
    pending_deadline,
)
from services.booking_api.projections import PROJECTORS, SCHEMA
from shared.errors import Conflict, NotFound
from shared.events.booking import BookingCreated, SlotCreated
from shared.events.envelope import Envelope, Payload, make_envelope
from shared.messaging import outbox
from shared.storage.projections import record

SOURCE = "booking_api"


def slot_stream(slot_id: uuid.UUID) -> str:
    return f"slot-{slot_id}"


def booking_stream(booking_id: uuid.UUID) -> str:
    return f"booking-{booking_id}"


def _envelope(payload: Payload, type_: str, subject: uuid.UUID) -> Envelope:
    return make_envelope(payload, type_=type_, source=SOURCE, subject=str(subject))


async def create_slot(
    conn: asyncpg.Connection, provider_id: str, starts_at: datetime, ends_at: datetime, actor: str
) -> asyncpg.Record:
    slot_id = uuid.uuid4()
    payload = SlotCreated(
        slot_id=slot_id, provider_id=provider_id, starts_at=starts_at, ends_at=ends_at
    )
    event = _envelope(payload, "SLOT_CREATED", slot_id)
    await record(conn, SCHEMA, slot_stream(slot_id), 0, [event], PROJECTORS, actor=actor)
    return await storage.get_slot(conn, slot_id)


async def book(
    conn: asyncpg.Connection, slot_id: uuid.UUID, user_id: str, notes: str | None, ttl: float
) -> asyncpg.Record:
    """A pending booking of an open slot; 404 for an unknown slot, 409 when it is taken."""
    slot = await storage.hold_slot(conn, slot_id)
    if slot is None:
        current = await storage.find_slot(conn, slot_id)
        if current is None:
            raise NotFound("slot", slot_id)
        raise Conflict(f"slot {slot_id} is not available", slot_status=current["status"])
    booking_id = uuid.uuid4()
    event_type = EVENT_OF[Status.PENDING][0]
    payload = BookingCreated(
        booking_id=booking_id,
        slot_id=slot_id,
        user_id=user_id,
        provider_id=slot["provider_id"],
        starts_at=slot["starts_at"],
        ends_at=slot["ends_at"],
        notes=notes,
        expires_at=pending_deadline(slot["now"], ttl, slot["starts_at"]),
    )
    event = _envelope(payload, event_type, booking_id)
    try:
        await record(
            conn, SCHEMA, booking_stream(booking_id), 0, [event], PROJECTORS, actor=user_id
        )
    except asyncpg.UniqueViolationError:
        # The partial unique index: a second active booking of the slot cannot exist.
        raise Conflict(f"slot {slot_id} is not available") from None
    await _publish(conn, Status.PENDING, event)
    return await storage.get_booking(conn, booking_id)


Authorize = Callable[[asyncpg.Record], None]


async def change_status(
    conn: asyncpg.Connection,
    booking_id: uuid.UUID,
    target: Status,
    actor: str,
    *,
    authorize: Authorize | None = None,
    reason: str | None = None,
) -> asyncpg.Record:
    """Move a booking to `target` under a row lock; 404 unknown, 403 via `authorize`, 409."""
    current = await storage.lock_booking(conn, booking_id)
    if current is None:
        raise NotFound("booking", booking_id)
    if authorize is not None:
        authorize(current)
    check_transition(current["status"], target)
    event_type, model = EVENT_OF[target]
    fields = {
        "booking_id": booking_id,
        "slot_id": current["slot_id"],
        "user_id": current["user_id"],
        "provider_id": current["provider_id"],
        "starts_at": current["starts_at"],
        "ends_at": current["ends_at"],
    }
    if "reason" in model.model_fields:
        fields["reason"] = reason
    event = _envelope(model(**fields), event_type, booking_id)
    await record(
        conn,
        SCHEMA,
        booking_stream(booking_id),
        current["version"],
        [event],
        PROJECTORS,
        actor=actor,
    )
    await _publish(conn, target, event)
    return await storage.get_booking(conn, booking_id)


async def _publish(conn: asyncpg.Connection, status: Status, event: Envelope) -> None:
    for destination in DESTINATIONS[status]:
        await outbox.add(conn, SCHEMA, destination, event)
