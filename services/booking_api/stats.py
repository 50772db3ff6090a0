"""Provider analytics as a projection of the booking events, and the query over it.

`ProviderStatsProjector` keeps one row per booking request (`provider_requests`: when it was
made, whether it was ever accepted, how it ended) and one per answer (`provider_answers`:
accept or reject, and the seconds since the request began waiting, from its creation or its
latest move). It runs beside the other projectors in each command's transaction and again in
a replay; every value comes from the events (their times), never from the clock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from services.booking_api.analytics import Window
from services.booking_api.typedefs import SCHEMA
from shared.events.envelope import Envelope

# The outcome a request reaches with each event (a move makes it pending again).
OUTCOMES = {
    "BOOKING_CREATED": "pending",
    "BOOKING_RESCHEDULED": "pending",
    "BOOKING_CONFIRMED": "confirmed",
    "BOOKING_REJECTED": "rejected",
    "BOOKING_CANCELLED": "cancelled",
    "BOOKING_EXPIRED": "expired",
}
ANSWERS = frozenset({"confirmed", "rejected"})


class ProviderStatsProjector:
    name = "provider_stats"

    async def reset(self, conn: asyncpg.Connection) -> None:
        await conn.execute(f"DELETE FROM {SCHEMA}.provider_answers")
        await conn.execute(f"DELETE FROM {SCHEMA}.provider_requests")

    async def apply(self, conn: asyncpg.Connection, event: Envelope, version: int) -> None:
        outcome = OUTCOMES.get(event.type)
        if outcome is None:
            return
        booking_id = uuid.UUID(event.data["booking_id"])
        if event.type == "BOOKING_CREATED":
            await conn.execute(
                f"""INSERT INTO {SCHEMA}.provider_requests
                        (booking_id, provider_id, requested_at, waiting_since)
                    VALUES ($1, $2, $3, $3)""",
                booking_id,
                event.data["provider_id"],
                event.time,
            )
            return
        if outcome in ANSWERS:
            # How long the provider took, from when the request began waiting.
            await conn.execute(
                f"""INSERT INTO {SCHEMA}.provider_answers
                        (booking_id, version, provider_id, asked_at, answered_at, answer, seconds)
                    SELECT booking_id, $2, provider_id, waiting_since, $3, $4,
                           greatest(0, extract(epoch FROM $3 - waiting_since))
                    FROM {SCHEMA}.provider_requests
                    WHERE booking_id = $1 AND waiting_since IS NOT NULL""",
                booking_id,
                version,
                event.time,
                outcome,
            )
        await conn.execute(
            f"""UPDATE {SCHEMA}.provider_requests
                SET outcome = $2,
                    accepted = accepted OR $2 = 'confirmed',
                    waiting_since = CASE WHEN $2 = 'pending' THEN $3::timestamptz END,
                    cancelled_by = $4
                WHERE booking_id = $1""",
            booking_id,
            outcome,
            event.time,
            event.data.get("cancelled_by") if outcome == "cancelled" else None,
        )


@dataclass(frozen=True)
class Figures:
    """What the projections say of the requests made in a window."""

    requests: int
    accepted: int
    rejected: int
    cancelled: int
    cancelled_by_provider: int
    expired: int
    pending: int
    answers: int
    median_answer_seconds: float | None


async def figures(conn: asyncpg.Connection, provider_id: str, window: Window) -> Figures:
    """Counts of the provider's requests made in the window, and the median time it took to
    answer the requests that began waiting in it (the median of the answers, interpolated)."""
    row = await conn.fetchrow(
        f"""WITH requests AS (
                SELECT count(*) AS requests,
                       count(*) FILTER (WHERE accepted) AS accepted,
                       count(*) FILTER (WHERE outcome = 'rejected') AS rejected,
                       count(*) FILTER (WHERE outcome = 'cancelled') AS cancelled,
                       count(*) FILTER (WHERE outcome = 'cancelled'
                                          AND cancelled_by = 'provider') AS cancelled_by_provider,
                       count(*) FILTER (WHERE outcome = 'expired') AS expired,
                       count(*) FILTER (WHERE outcome = 'pending') AS pending
                FROM {SCHEMA}.provider_requests
                WHERE provider_id = $1 AND requested_at >= $2 AND requested_at < $3
            ), answers AS (
                SELECT count(*) AS answers,
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds)
                           AS median_answer_seconds
                FROM {SCHEMA}.provider_answers
                WHERE provider_id = $1 AND asked_at >= $2 AND asked_at < $3
            )
            SELECT * FROM requests, answers""",
        provider_id,
        window.start,
        window.end,
    )
    assert row is not None, "aggregates without GROUP BY give one row"
    return Figures(**dict(row))
