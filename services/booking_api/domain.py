"""The booking state machine and the rules around it. Pure: no I/O, no clock.

    pending -> confirmed | rejected | cancelled | expired | pending (rescheduled)
    confirmed -> cancelled | pending (rescheduled: the provider answers the new time again)

A `Booking` built from its row decides a transition and returns the event payload; every
other transition is a 409. A slot is `held` while its booking is pending, `booked` once
confirmed, and `open` again when the booking ends any other way or moves to another slot.
An open slot may be withdrawn by its provider; a held or booked one may not. A confirmed
booking is reminded a configurable lead before it starts (reminders are notices, not state
changes: they are never part of its stream).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.errors import Conflict, Problem
from shared.events.booking import (
    BookingCancelled,
    BookingConfirmed,
    BookingCreated,
    BookingExpired,
    BookingPayload,
    BookingRejected,
    BookingReminder,
    BookingRescheduled,
    SlotWithdrawn,
)
from shared.events.envelope import REGISTRY


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
    WITHDRAWN = "withdrawn"


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset(
        {Status.CONFIRMED, Status.REJECTED, Status.CANCELLED, Status.EXPIRED}
    ),
    Status.CONFIRMED: frozenset({Status.CANCELLED}),
}

ACTIVE = frozenset({Status.PENDING, Status.CONFIRMED})

# The payload of the event recorded when a booking reaches a status.
PAYLOAD_OF: dict[Status, type[BookingPayload]] = {
    Status.PENDING: BookingCreated,
    Status.CONFIRMED: BookingConfirmed,
    Status.REJECTED: BookingRejected,
    Status.CANCELLED: BookingCancelled,
    Status.EXPIRED: BookingExpired,
}
STATUS_OF: dict[str, Status] = {
    REGISTRY.type_of(model): status for status, model in PAYLOAD_OF.items()
}
RESCHEDULED = REGISTRY.type_of(BookingRescheduled)
STATUS_OF[RESCHEDULED] = Status.PENDING


class InvalidTransition(Conflict):
    def __init__(self, current: Status, target: Status) -> None:
        super().__init__(
            f"a {current} booking cannot become {target}",
            title="Invalid status transition",
            status_now=str(current),
        )


@dataclass(frozen=True)
class Booking:
    """The booking aggregate: what a transition needs to be decided."""

    id: uuid.UUID
    slot_id: uuid.UUID
    user_id: str
    provider_id: str
    status: Status
    starts_at: datetime
    ends_at: datetime
    version: int
    time_zone: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Booking:
        return cls(
            id=row["id"],
            slot_id=row["slot_id"],
            user_id=row["user_id"],
            provider_id=row["provider_id"],
            status=Status(row["status"]),
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
            version=row["version"],
            time_zone=row.get("time_zone"),
        )

    def transition(
        self, target: Status, reason: str | None = None, *, by: str | None = None
    ) -> BookingPayload:
        """The event payload of moving to `target`; 409 when the machine forbids it.
        `by` ("user" or "provider") says who cancelled, for the one who did not."""
        if target not in TRANSITIONS.get(self.status, frozenset()):
            raise InvalidTransition(self.status, target)
        model = PAYLOAD_OF[target]
        fields: dict[str, Any] = {
            "booking_id": self.id,
            "slot_id": self.slot_id,
            "user_id": self.user_id,
            "provider_id": self.provider_id,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "time_zone": self.time_zone,
        }
        if "reason" in model.model_fields:
            fields["reason"] = reason
        if "cancelled_by" in model.model_fields:
            fields["cancelled_by"] = by
        return model(**fields)

    def reminders(self, leads: Iterable[float], now: datetime) -> list[BookingReminder]:
        """The reminders of this booking, confirmed at `now`: one per lead still ahead."""
        return [
            BookingReminder(
                booking_id=self.id,
                slot_id=self.slot_id,
                user_id=self.user_id,
                provider_id=self.provider_id,
                starts_at=self.starts_at,
                ends_at=self.ends_at,
                time_zone=self.time_zone,
                lead_seconds=lead,
                remind_at=at,
            )
            for lead, at in reminder_times(self.starts_at, leads, now)
        ]

    def check_move(self, slot_id: uuid.UUID, provider_id: str) -> None:
        """409 unless the booking is active and the slot another; 422 for another provider's."""
        if self.status not in ACTIVE:
            raise InvalidTransition(self.status, Status.PENDING)
        if slot_id == self.slot_id:
            raise Conflict("the booking is already in this slot")
        if provider_id != self.provider_id:
            raise Problem(422, "a booking moves only to another slot of the same provider")

    def reschedule(
        self,
        slot_id: uuid.UUID,
        provider_id: str,
        starts_at: datetime,
        ends_at: datetime,
        expires_at: datetime,
        time_zone: str | None = None,
    ) -> BookingRescheduled:
        """The event of moving to another (held) slot: pending again until it is accepted."""
        self.check_move(slot_id, provider_id)
        return BookingRescheduled(
            booking_id=self.id,
            slot_id=slot_id,
            user_id=self.user_id,
            provider_id=self.provider_id,
            starts_at=starts_at,
            ends_at=ends_at,
            time_zone=time_zone,
            from_slot_id=self.slot_id,
            from_starts_at=self.starts_at,
            from_ends_at=self.ends_at,
            expires_at=expires_at,
        )


@dataclass(frozen=True)
class Slot:
    """A slot of a provider's calendar: what withdrawing it needs to be decided."""

    id: uuid.UUID
    provider_id: str
    starts_at: datetime
    ends_at: datetime
    status: SlotStatus

    def withdraw(self) -> SlotWithdrawn:
        """The event of taking an open slot off the calendar; 409 when it is held or booked."""
        if self.status is not SlotStatus.OPEN:
            raise Conflict(
                f"a {self.status} slot cannot be withdrawn", slot_status=str(self.status)
            )
        return SlotWithdrawn(
            slot_id=self.id,
            provider_id=self.provider_id,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
        )


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


def reminder_times(
    starts_at: datetime, leads: Iterable[float], now: datetime
) -> list[tuple[float, datetime]]:
    """(lead, when) of each reminder of a booking starting at `starts_at`, `lead` seconds
    before it, soonest first. A lead already past at `now` (or at it) is skipped; a lead given
    twice reminds once."""
    due = {lead: starts_at - timedelta(seconds=lead) for lead in leads}
    return sorted(((lead, at) for lead, at in due.items() if at > now), key=lambda due: due[1])
