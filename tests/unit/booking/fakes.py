"""A unit of work in memory, for the booking commands' unit tests (no PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from services.booking_api.domain import (
    RESCHEDULED,
    STATUS_OF,
    Booking,
    Slot,
    SlotStatus,
    Status,
    slot_status,
)
from services.booking_api.uow import HeldSlot, SlotOverlaps, UniquenessViolated
from shared.errors import Conflict
from shared.events.envelope import Envelope
from shared.messaging.outbox import Guard, Outgoing


@dataclass
class FakeSlot:
    id: uuid.UUID
    provider_id: str
    starts_at: datetime
    ends_at: datetime
    status: SlotStatus = SlotStatus.OPEN
    time_zone: str | None = None


@dataclass
class FakeUnitOfWork:
    """Keeps streams, slots, bookings and the outbox in dictionaries and lists."""

    now: datetime = field(default_factory=lambda: datetime(2030, 1, 1, 12, tzinfo=UTC))
    slots: dict[uuid.UUID, FakeSlot] = field(default_factory=dict)
    bookings: dict[uuid.UUID, Booking] = field(default_factory=dict)
    streams: dict[str, list[Envelope]] = field(default_factory=dict)
    published: list[tuple[str, Envelope]] = field(default_factory=list)
    scheduled: list[tuple[str, Envelope, datetime, Guard]] = field(default_factory=list)
    expired: list[uuid.UUID] = field(default_factory=list)

    async def hold_slot(self, slot_id: uuid.UUID) -> HeldSlot | None:
        slot = self.slots.get(slot_id)
        if slot is None or slot.status is not SlotStatus.OPEN or slot.starts_at <= self.now:
            return None
        slot.status = SlotStatus.HELD
        return HeldSlot(
            slot.id, slot.provider_id, slot.starts_at, slot.ends_at, self.now, slot.time_zone
        )

    async def find_slot(self, slot_id: uuid.UUID) -> Slot | None:
        slot = self.slots.get(slot_id)
        if slot is None:
            return None
        return Slot(slot.id, slot.provider_id, slot.starts_at, slot.ends_at, slot.status)

    async def lock_slot(self, slot_id: uuid.UUID) -> Slot | None:
        return await self.find_slot(slot_id)

    async def add_slot(self, stream: str, event: Envelope, actor: str) -> None:
        data = event.data
        starts = datetime.fromisoformat(data["starts_at"])
        ends = datetime.fromisoformat(data["ends_at"])
        for slot in self.slots.values():
            if (
                slot.provider_id == data["provider_id"]
                and slot.status is not SlotStatus.WITHDRAWN
                and slot.starts_at < ends
                and starts < slot.ends_at
            ):
                raise SlotOverlaps(slot.id)
        await self.record(stream, 0, [event], actor)

    async def lock_booking(self, booking_id: uuid.UUID) -> Booking | None:
        return self.bookings.get(booking_id)

    async def lock_expired(self, limit: int) -> list[uuid.UUID]:
        return self.expired[:limit]

    async def record(
        self, stream: str, expected_version: int, events: Sequence[Envelope], actor: str
    ) -> None:
        current = self.streams.setdefault(stream, [])
        if len(current) != expected_version:
            raise Conflict(f"stream {stream} is at version {len(current)}")
        for event in events:
            current.append(event)
            self._project(event, len(current))

    async def send(self, messages: Sequence[Outgoing]) -> None:
        for m in messages:
            if m.at is None:
                self.published.append((m.destination, m.envelope))
            else:
                assert m.guard is not None, "a reminder is always guarded"
                self.scheduled.append((m.destination, m.envelope, m.at, m.guard))

    async def current_time(self) -> datetime:
        return self.now

    def destinations(self, event_type: str) -> set[str]:
        return {d for d, event in self.published if event.type == event_type}

    def _project(self, event: Envelope, version: int) -> None:
        data = event.data
        if event.type == "SLOT_CREATED":
            slot = FakeSlot(
                uuid.UUID(data["slot_id"]),
                data["provider_id"],
                datetime.fromisoformat(data["starts_at"]),
                datetime.fromisoformat(data["ends_at"]),
                time_zone=data.get("time_zone"),
            )
            self.slots[slot.id] = slot
            return
        if event.type == "SLOT_WITHDRAWN":
            self.slots[uuid.UUID(data["slot_id"])].status = SlotStatus.WITHDRAWN
            return
        status = STATUS_OF[event.type]
        booking_id = uuid.UUID(data["booking_id"])
        if event.type == RESCHEDULED:
            self._move(booking_id, uuid.UUID(data["slot_id"]), data, version)
            return
        if status is Status.PENDING:
            slot_id = uuid.UUID(data["slot_id"])
            if any(
                b.slot_id == slot_id and b.status is Status.PENDING for b in self.bookings.values()
            ):
                raise UniquenessViolated("a second active booking of the slot")
            self.bookings[booking_id] = Booking(
                id=booking_id,
                slot_id=slot_id,
                user_id=data["user_id"],
                provider_id=data["provider_id"],
                status=status,
                starts_at=datetime.fromisoformat(data["starts_at"]),
                ends_at=datetime.fromisoformat(data["ends_at"]),
                version=version,
                time_zone=data.get("time_zone"),
            )
        else:
            self.bookings[booking_id] = replace(
                self.bookings[booking_id], status=status, version=version
            )
        self.slots[self.bookings[booking_id].slot_id].status = slot_status(status)

    def _move(
        self, booking_id: uuid.UUID, slot_id: uuid.UUID, data: dict[str, Any], version: int
    ) -> None:
        if any(
            b.slot_id == slot_id and b.status in (Status.PENDING, Status.CONFIRMED)
            for b in self.bookings.values()
        ):
            raise UniquenessViolated("a second active booking of the slot")
        old = self.bookings[booking_id]
        self.slots[old.slot_id].status = SlotStatus.OPEN
        self.slots[slot_id].status = SlotStatus.HELD
        self.bookings[booking_id] = replace(
            old,
            slot_id=slot_id,
            status=Status.PENDING,
            starts_at=datetime.fromisoformat(data["starts_at"]),
            ends_at=datetime.fromisoformat(data["ends_at"]),
            version=version,
        )
