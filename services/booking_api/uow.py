"""The unit of work of a booking command: what a command may read and write, and nothing else.

`PostgresUnitOfWork` runs on one connection inside the caller's transaction (the
Idempotency-Key's, or a sweep's): a command's writes commit or roll back together. Unit
tests hand the commands a fake with the same methods.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import asyncpg

from services.booking_api import storage
from services.booking_api.domain import Booking, Slot, SlotStatus
from services.booking_api.projections import PROJECTORS
from services.booking_api.typedefs import SCHEMA
from shared.events.envelope import Envelope
from shared.messaging import outbox
from shared.storage.projections import record


class UniquenessViolated(Exception):
    """A projected row broke a unique rule of the read models (a second active booking of
    one slot): the command lost a race that the database decided."""


class SlotOverlaps(Exception):
    """A new slot would overlap `in_the_way`, a slot of the same provider's calendar."""

    def __init__(self, in_the_way: uuid.UUID | None) -> None:
        super().__init__(f"overlaps slot {in_the_way}")
        self.in_the_way = in_the_way


@dataclass(frozen=True)
class HeldSlot:
    """A slot this unit of work has just moved from open to held."""

    id: uuid.UUID
    provider_id: str
    starts_at: datetime
    ends_at: datetime
    held_at: datetime  # the database's clock, so deadlines never depend on a process's
    time_zone: str | None = None


class BookingUnitOfWork(Protocol):
    async def hold_slot(self, slot_id: uuid.UUID) -> HeldSlot | None:
        """Compare-and-swap an open, future slot to held; None when it is not."""
        ...

    async def find_slot(self, slot_id: uuid.UUID) -> Slot | None:
        """The slot (any status), None when there is no such slot."""
        ...

    async def lock_slot(self, slot_id: uuid.UUID) -> Slot | None:
        """The slot, locked until the unit of work ends; None when unknown."""
        ...

    async def add_slot(self, stream: str, event: Envelope, actor: str) -> None:
        """Record the SLOT_CREATED event of a new stream; SlotOverlaps when the calendar's
        exclusion constraint refuses the slot (nothing is recorded then)."""
        ...

    async def lock_booking(self, booking_id: uuid.UUID) -> Booking | None:
        """The booking, locked until the unit of work ends; None when unknown."""
        ...

    async def lock_expired(self, limit: int) -> list[uuid.UUID]:
        """Pending bookings past their deadline, locked; those another holds are skipped."""
        ...

    async def record(
        self, stream: str, expected_version: int, events: Sequence[Envelope], actor: str
    ) -> None:
        """Append events after `expected_version` and project them; 409 when another writer
        got there first, UniquenessViolated when a read model's unique rule refuses them."""
        ...

    async def send(self, messages: Sequence[outbox.Outgoing]) -> None:
        """Write the messages to the outbox in one go. They leave when the unit commits, a
        scheduled one at its time, unless its guard's stream has moved on by then."""
        ...

    async def current_time(self) -> datetime:
        """The database's clock (the unit of work's start), which deadlines are set by."""
        ...


class PostgresUnitOfWork:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        # now() is the transaction's start, the same in every statement: once one of them
        # has told it (a lock does), the clock is never asked again.
        self._now: datetime | None = None

    async def hold_slot(self, slot_id: uuid.UUID) -> HeldSlot | None:
        row = await storage.hold_slot(self.conn, slot_id)
        if row is None:
            return None
        self._now = row["now"]
        return HeldSlot(
            slot_id,
            row["provider_id"],
            row["starts_at"],
            row["ends_at"],
            row["now"],
            row["time_zone"],
        )

    async def find_slot(self, slot_id: uuid.UUID) -> Slot | None:
        return _slot(await storage.find_slot(self.conn, slot_id))

    async def lock_slot(self, slot_id: uuid.UUID) -> Slot | None:
        return _slot(await storage.lock_slot(self.conn, slot_id))

    async def add_slot(self, stream: str, event: Envelope, actor: str) -> None:
        # One provider's new slots take turns: concurrent inserts of overlapping ranges
        # would otherwise wait on each other's uncommitted rows and can deadlock. The
        # exclusion constraint still decides what overlaps.
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            f"calendar:{event.data['provider_id']}",
        )
        try:
            # A savepoint: after a refusal the transaction still answers which slot is in
            # the way. The constraint waited for the winner to commit, so it is visible now.
            async with self.conn.transaction():
                await self.record(stream, 0, [event], actor)
        except asyncpg.ExclusionViolationError:
            data = event.data
            raise SlotOverlaps(
                await storage.slot_in_the_way(
                    self.conn,
                    data["provider_id"],
                    datetime.fromisoformat(data["starts_at"]),
                    datetime.fromisoformat(data["ends_at"]),
                )
            ) from None

    async def lock_booking(self, booking_id: uuid.UUID) -> Booking | None:
        row = await storage.lock_booking(self.conn, booking_id)
        if row is None:
            return None
        self._now = row["now"]
        return Booking.from_row(row)

    async def lock_expired(self, limit: int) -> list[uuid.UUID]:
        return await storage.lock_expired(self.conn, limit)

    async def record(
        self, stream: str, expected_version: int, events: Sequence[Envelope], actor: str
    ) -> None:
        try:
            await record(
                self.conn, SCHEMA, stream, expected_version, events, PROJECTORS, actor=actor
            )
        except asyncpg.UniqueViolationError as exc:
            raise UniquenessViolated(str(exc)) from exc

    async def send(self, messages: Sequence[outbox.Outgoing]) -> None:
        await outbox.add_all(self.conn, SCHEMA, messages)

    async def current_time(self) -> datetime:
        if self._now is None:
            self._now = await self.conn.fetchval("SELECT now()")
        return self._now


def _slot(row: asyncpg.Record | None) -> Slot | None:
    if row is None:
        return None
    return Slot(
        row["id"], row["provider_id"], row["starts_at"], row["ends_at"], SlotStatus(row["status"])
    )
