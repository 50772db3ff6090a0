"""Read models of the booking context: slots and bookings, folded from the events (and the
provider analytics of services.booking_api.stats).

Every column comes from an event (times are event times), so a replay reproduces the live
rows exactly.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from services.booking_api.domain import RESCHEDULED, STATUS_OF, Status, slot_status
from services.booking_api.stats import ProviderStatsProjector
from services.booking_api.typedefs import SCHEMA
from shared.events.envelope import Envelope
from shared.storage.projections import Projector


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


class SlotsProjector:
    name = "slots"

    async def reset(self, conn: asyncpg.Connection) -> None:
        await conn.execute(f"DELETE FROM {SCHEMA}.slots")

    async def apply(self, conn: asyncpg.Connection, event: Envelope, version: int) -> None:
        data = event.data
        if event.type == "SLOT_CREATED":
            await conn.execute(
                f"""INSERT INTO {SCHEMA}.slots
                        (id, provider_id, starts_at, ends_at, time_zone, status, created_at,
                         updated_at)
                    VALUES ($1, $2, $3, $4, $5, 'open', $6, $6)""",
                uuid.UUID(data["slot_id"]),
                data["provider_id"],
                _time(data["starts_at"]),
                _time(data["ends_at"]),
                data.get("time_zone"),
                event.time,
            )
        elif event.type == "SLOT_WITHDRAWN":
            await self._set(conn, data["slot_id"], "withdrawn", event.time)
        elif event.type == RESCHEDULED:
            # The slot left is open again; the new one was held by the command.
            await self._set(conn, data["from_slot_id"], "open", event.time)
            await self._set(conn, data["slot_id"], "held", event.time)
        elif event.type in STATUS_OF:
            await conn.execute(
                f"UPDATE {SCHEMA}.slots SET status = $2, updated_at = $3 WHERE id = $1",
                uuid.UUID(data["slot_id"]),
                str(slot_status(STATUS_OF[event.type])),
                event.time,
            )

    @staticmethod
    async def _set(conn: asyncpg.Connection, slot_id: str, status: str, at: datetime) -> None:
        await conn.execute(
            f"UPDATE {SCHEMA}.slots SET status = $2, updated_at = $3 WHERE id = $1",
            uuid.UUID(slot_id),
            status,
            at,
        )


class BookingsProjector:
    name = "bookings"

    async def reset(self, conn: asyncpg.Connection) -> None:
        await conn.execute(f"DELETE FROM {SCHEMA}.bookings")

    async def apply(self, conn: asyncpg.Connection, event: Envelope, version: int) -> None:
        status = STATUS_OF.get(event.type)
        if status is None:
            return
        data = event.data
        if event.type == RESCHEDULED:
            await conn.execute(
                f"""UPDATE {SCHEMA}.bookings
                    SET status = 'pending', reason = NULL, slot_id = $2, starts_at = $3,
                        ends_at = $4, expires_at = $5, updated_at = $6, version = $7,
                        time_zone = $8
                    WHERE id = $1""",
                uuid.UUID(data["booking_id"]),
                uuid.UUID(data["slot_id"]),
                _time(data["starts_at"]),
                _time(data["ends_at"]),
                _time(data["expires_at"]),
                event.time,
                version,
                data.get("time_zone"),
            )
            return
        if status is Status.PENDING:
            await conn.execute(
                f"""INSERT INTO {SCHEMA}.bookings
                        (id, slot_id, user_id, provider_id, status, notes, starts_at, ends_at,
                         expires_at, created_at, updated_at, version, time_zone)
                    VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $9, $10, $11)""",
                uuid.UUID(data["booking_id"]),
                uuid.UUID(data["slot_id"]),
                data["user_id"],
                data["provider_id"],
                data.get("notes"),
                _time(data["starts_at"]),
                _time(data["ends_at"]),
                _time(data["expires_at"]),
                event.time,
                version,
                data.get("time_zone"),
            )
            return
        await conn.execute(
            f"""UPDATE {SCHEMA}.bookings
                SET status = $2, reason = $3, updated_at = $4, version = $5
                WHERE id = $1""",
            uuid.UUID(data["booking_id"]),
            str(status),
            data.get("reason"),
            event.time,
            version,
        )


# In dependency order: bookings reference slots. Provider analytics stand on their own.
PROJECTORS: tuple[Projector, ...] = (
    SlotsProjector(),
    BookingsProjector(),
    ProviderStatsProjector(),
)
