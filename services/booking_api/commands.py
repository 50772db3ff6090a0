"""What changes state: create or withdraw a slot, book it, move a booking through its life.

Each command is load, decide, record, publish, in the caller's unit of work: the aggregate
decides, the event is appended at the stream's expected version and projected into the read
models, and it goes to the outbox for every destination that must hear of it. A confirmation
also schedules the user's reminders: delayed outbox rows guarded by the booking's version.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from services.booking_api.domain import Booking, SlotStatus, Status, pending_deadline
from services.booking_api.typedefs import SOURCE
from services.booking_api.uow import (
    BookingUnitOfWork,
    HeldSlot,
    SlotOverlaps,
    UniquenessViolated,
)
from shared.errors import Conflict, NotFound
from shared.events.booking import (
    BookingCancelled,
    BookingConfirmed,
    BookingCreated,
    BookingExpired,
    BookingRejected,
    BookingRescheduled,
    SlotCreated,
)
from shared.events.envelope import Envelope, Payload, Trace, make_envelope
from shared.messaging.destinations import PROVIDER_EVENTS, USER_NOTICES
from shared.messaging.outbox import Guard, Outgoing

# Who hears of each event: the provider's side (the inbox: every change of a request, so it
# shows only the requests still waiting for an answer) and the user.
AUDIENCES: dict[type[Payload], tuple[str, ...]] = {
    BookingCreated: (PROVIDER_EVENTS,),
    BookingConfirmed: (PROVIDER_EVENTS, USER_NOTICES),
    BookingRejected: (PROVIDER_EVENTS, USER_NOTICES),
    BookingCancelled: (PROVIDER_EVENTS, USER_NOTICES),
    BookingExpired: (PROVIDER_EVENTS, USER_NOTICES),
    BookingRescheduled: (PROVIDER_EVENTS, USER_NOTICES),
}


def slot_stream(slot_id: uuid.UUID) -> str:
    return f"slot-{slot_id}"


def booking_stream(booking_id: uuid.UUID) -> str:
    return f"booking-{booking_id}"


async def create_slot(
    uow: BookingUnitOfWork,
    provider_id: str,
    starts_at: datetime,
    ends_at: datetime,
    actor: str,
    trace: Trace,
    *,
    time_zone: str | None = None,
) -> uuid.UUID:
    """A new open slot of `provider_id`; returns its id. 409 naming the slot in the way when
    it would overlap another of the provider's slots (touching is fine)."""
    slot_id = uuid.uuid4()
    payload = SlotCreated(
        slot_id=slot_id,
        provider_id=provider_id,
        starts_at=starts_at,
        ends_at=ends_at,
        time_zone=time_zone,
    )
    try:
        await uow.add_slot(slot_stream(slot_id), _event(payload, slot_id, trace), actor)
    except SlotOverlaps as exc:
        in_the_way = None if exc.in_the_way is None else str(exc.in_the_way)
        raise Conflict(
            f"the slot overlaps slot {in_the_way} of the provider's calendar",
            title="Overlapping slot",
            slot_in_the_way=in_the_way,
        ) from None
    return slot_id


async def withdraw_slot(
    uow: BookingUnitOfWork, provider_id: str, slot_id: uuid.UUID, actor: str, trace: Trace
) -> None:
    """Take an open slot of `provider_id` off the calendar; 404 for an unknown (or already
    withdrawn, or another provider's) slot, 409 when it is held or booked."""
    slot = await uow.lock_slot(slot_id)
    if slot is None or slot.provider_id != provider_id or slot.status is SlotStatus.WITHDRAWN:
        raise NotFound("slot", slot_id)
    payload = slot.withdraw()
    # A slot's stream holds its creation only until it is withdrawn, its last event.
    await uow.record(slot_stream(slot_id), 1, [_event(payload, slot_id, trace)], actor)


async def book(
    uow: BookingUnitOfWork,
    slot_id: uuid.UUID,
    user_id: str,
    notes: str | None,
    ttl: float,
    trace: Trace,
) -> uuid.UUID:
    """A pending booking of an open slot; 404 for an unknown slot, 409 when it is taken."""
    slot = await _hold(uow, slot_id)
    booking_id = uuid.uuid4()
    payload = BookingCreated(
        booking_id=booking_id,
        slot_id=slot_id,
        user_id=user_id,
        provider_id=slot.provider_id,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        time_zone=slot.time_zone,
        notes=notes,
        expires_at=pending_deadline(slot.held_at, ttl, slot.starts_at),
    )
    event = _event(payload, booking_id, trace)
    try:
        await uow.record(booking_stream(booking_id), 0, [event], user_id)
    except UniquenessViolated:
        # The partial unique index: a second active booking of the slot cannot exist.
        raise Conflict(f"slot {slot_id} is not available") from None
    await uow.send(_notices(payload, event))
    return booking_id


async def _hold(uow: BookingUnitOfWork, slot_id: uuid.UUID) -> HeldSlot:
    """Hold an open, future slot; 404 when unknown or withdrawn, 409 when taken or past."""
    slot = await uow.hold_slot(slot_id)
    if slot is None:
        found = await uow.find_slot(slot_id)
        if found is None or found.status is SlotStatus.WITHDRAWN:
            raise NotFound("slot", slot_id)
        raise Conflict(f"slot {slot_id} is not available", slot_status=str(found.status))
    return slot


async def reschedule(
    uow: BookingUnitOfWork,
    booking: Booking,
    slot_id: uuid.UUID,
    actor: str,
    ttl: float,
    trace: Trace,
) -> None:
    """Move a loaded (locked) active booking to another open slot of its provider, at once:
    the new slot held, the old one open again, the booking pending until accepted again.
    404 for an unknown slot, 422 for another provider's, 409 when taken, past or its own."""
    target = await uow.find_slot(slot_id)
    if target is None or target.status is SlotStatus.WITHDRAWN:
        raise NotFound("slot", slot_id)
    booking.check_move(target.id, target.provider_id)  # before anything changes
    held = await _hold(uow, slot_id)
    deadline = pending_deadline(held.held_at, ttl, held.starts_at)
    payload = booking.reschedule(
        held.id,
        held.provider_id,
        held.starts_at,
        held.ends_at,
        expires_at=deadline,
        time_zone=held.time_zone,
    )
    event = _event(payload, booking.id, trace)
    try:
        await uow.record(booking_stream(booking.id), booking.version, [event], actor)
    except UniquenessViolated:
        raise Conflict(f"slot {slot_id} is not available") from None
    await uow.send(_notices(payload, event))


async def load(uow: BookingUnitOfWork, booking_id: uuid.UUID) -> Booking:
    """The booking, locked for the rest of the unit of work; 404 when unknown."""
    booking = await uow.lock_booking(booking_id)
    if booking is None:
        raise NotFound("booking", booking_id)
    return booking


async def change_status(
    uow: BookingUnitOfWork,
    booking: Booking,
    target: Status,
    actor: str,
    trace: Trace,
    *,
    reason: str | None = None,
    by: str | None = None,
    reminder_leads: Sequence[float] = (),
) -> None:
    """Move a loaded (locked) booking to `target`: 409 when its state machine forbids it.
    A booking confirmed is reminded `reminder_leads` seconds before it starts."""
    payload = booking.transition(target, reason, by=by)
    event = _event(payload, booking.id, trace)
    await uow.record(booking_stream(booking.id), booking.version, [event], actor)
    messages = _notices(payload, event)
    if target is Status.CONFIRMED and reminder_leads:
        messages += await _reminders(uow, booking, reminder_leads, event, trace)
    await uow.send(messages)


async def _reminders(
    uow: BookingUnitOfWork,
    booking: Booking,
    leads: Sequence[float],
    confirmed: Envelope,
    trace: Trace,
) -> list[Outgoing]:
    """One delayed notice per lead still ahead, guarded by the version the confirmation
    gave the booking's stream: any later change (a cancel, a move) supersedes them all."""
    guard = Guard(booking_stream(booking.id), booking.version + 1)
    caused = Trace(trace.correlation_id, trace.traceparent, str(confirmed.id))
    return [
        Outgoing(
            USER_NOTICES, _event(reminder, booking.id, caused), at=reminder.remind_at, guard=guard
        )
        for reminder in booking.reminders(leads, await uow.current_time())
    ]


async def expire_due(uow: BookingUnitOfWork, actor: str, trace: Trace, *, batch: int) -> int:
    """Expire one batch of overdue pending bookings; return how many."""
    due = await uow.lock_expired(batch)
    for booking_id in due:
        await change_status(uow, await load(uow, booking_id), Status.EXPIRED, actor, trace)
    return len(due)


def _event(payload: Payload, subject: uuid.UUID, trace: Trace) -> Envelope:
    return make_envelope(payload, source=SOURCE, subject=str(subject), trace=trace)


def _notices(payload: Payload, event: Envelope) -> list[Outgoing]:
    """The event, for every destination that must hear of it."""
    return [Outgoing(destination, event) for destination in AUDIENCES.get(type(payload), ())]
