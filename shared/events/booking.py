"""Booking events: published by booking_api, consumed by the booking consumers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.events.envelope import Payload, event_type


class BookingPayload(Payload):
    booking_id: uuid.UUID
    slot_id: uuid.UUID
    user_id: str
    provider_id: str
    starts_at: datetime
    ends_at: datetime
    # The slot's IANA time zone, for showing local times; None: show UTC.
    time_zone: str | None = None

    def notice_values(self) -> dict[str, Any]:
        """The payload as template values, every time shown in the slot's time zone."""
        values: dict[str, Any] = self.model_dump(mode="json")
        values.setdefault("reason", None)
        zone = _zone(self.time_zone)
        if zone is not None:
            for name, value in self:
                if isinstance(value, datetime):
                    values[name] = f"{value.astimezone(zone).isoformat()} ({self.time_zone})"
        return values


def _zone(name: str | None) -> ZoneInfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None  # an event of a zone this host does not know: UTC is still true


@event_type("SLOT_CREATED")
class SlotCreated(Payload):
    slot_id: uuid.UUID
    provider_id: str
    starts_at: datetime
    ends_at: datetime
    time_zone: str | None = None


@event_type("SLOT_WITHDRAWN")
class SlotWithdrawn(Payload):
    slot_id: uuid.UUID
    provider_id: str
    starts_at: datetime
    ends_at: datetime


@event_type("BOOKING_CREATED")
class BookingCreated(BookingPayload):
    notes: str | None = None
    expires_at: datetime


@event_type("BOOKING_CONFIRMED")
class BookingConfirmed(BookingPayload):
    pass


@event_type("BOOKING_REJECTED")
class BookingRejected(BookingPayload):
    reason: str | None = None


@event_type("BOOKING_CANCELLED")
class BookingCancelled(BookingPayload):
    reason: str | None = None
    # Who cancelled: the booking's user or its provider (None in events recorded before).
    cancelled_by: Literal["user", "provider"] | None = None


@event_type("BOOKING_EXPIRED")
class BookingExpired(BookingPayload):
    pass


@event_type("BOOKING_RESCHEDULED")
class BookingRescheduled(BookingPayload):
    """The booking moved to `slot_id` (held now) from `from_slot_id` (open again); it is
    pending again until the provider accepts, by `expires_at`."""

    from_slot_id: uuid.UUID
    from_starts_at: datetime
    from_ends_at: datetime
    expires_at: datetime


@event_type("BOOKING_REMINDER")
class BookingReminder(BookingPayload):
    """The confirmed booking starts in `lead_seconds`: a notice sent at `remind_at`, only if
    the booking has not changed since it was confirmed (never recorded in its stream)."""

    lead_seconds: float
    remind_at: datetime
