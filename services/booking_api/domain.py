"""The booking state machine and the rules around it. Pure: no I/O, no clock.

    pending -> confirmed | rejected | cancelled | expired
    confirmed -> cancelled

Every other transition is a 409. A slot is `held` while its booking is pending, `booked`
once confirmed, and `open` again when the booking ends any other way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from shared.errors import Conflict
from shared.events.booking import (
    BookingCancelled,
    BookingConfirmed,
    BookingCreated,
    BookingExpired,
    BookingPayload,
    BookingRejected,
)
from shared.messaging.sqs import BOOKING_CONFIRMATION, BOOKING_REQUEST


class Status(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class SlotStatus(StrEnum):
    OPEN = "open"
    HELD = "held"
    BOOKED = "booked"


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset(
        {Status.CONFIRMED, Status.REJECTED, Status.CANCELLED, Status.EXPIRED}
    ),
    Status.CONFIRMED: frozenset({Status.CANCELLED}),
}

ACTIVE = frozenset({Status.PENDING, Status.CONFIRMED})

# The event recorded when a booking reaches a status, with its payload model.
EVENT_OF: dict[Status, tuple[str, type[BookingPayload]]] = {
    Status.PENDING: ("BOOKING_CREATED", BookingCreated),
    Status.CONFIRMED: ("BOOKING_CONFIRMED", BookingConfirmed),
    Status.REJECTED: ("BOOKING_REJECTED", BookingRejected),
    Status.CANCELLED: ("BOOKING_CANCELLED", BookingCancelled),
    Status.EXPIRED: ("BOOKING_EXPIRED", BookingExpired),
}
STATUS_OF: dict[str, Status] = {event: status for status, (event, _) in EVENT_OF.items()}

# Who hears of each status: the provider (request queue), the user (confirmation queue).
DESTINATIONS: dict[Status, tuple[str, ...]] = {
    Status.PENDING: (BOOKING_REQUEST,),
    Status.CONFIRMED: (BOOKING_CONFIRMATION,),
    Status.REJECTED: (BOOKING_CONFIRMATION,),
    Status.CANCELLED: (BOOKING_REQUEST, BOOKING_CONFIRMATION),
    Status.EXPIRED: (BOOKING_REQUEST, BOOKING_CONFIRMATION),
}


class InvalidTransition(Conflict):
    def __init__(self, current: Status, target: Status) -> None:
        super().__init__(
            f"a {current} booking cannot become {target}",
            title="Invalid status transition",
            status_now=str(current),
        )


def check_transition(current: str, target: Status) -> Status:
    """The status after moving `current` to `target`; 409 when the machine forbids it."""
    now = Status(current)
    if target not in TRANSITIONS.get(now, frozenset()):
        raise InvalidTransition(now, target)
    return target


def slot_status(booking_status: Status) -> SlotStatus:
    """The status of a slot whose latest booking has `booking_status`."""
    if booking_status is Status.PENDING:
        return SlotStatus.HELD
    if booking_status is Status.CONFIRMED:
        return SlotStatus.BOOKED
    return SlotStatus.OPEN


def pending_deadline(booked_at: datetime, ttl_seconds: float, starts_at: datetime) -> datetime:
    """When an unanswered booking expires: after the TTL, and never after the slot starts."""
    return min(booked_at + timedelta(seconds=ttl_seconds), starts_at)
