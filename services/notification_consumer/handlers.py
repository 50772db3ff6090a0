"""Event handlers of notification_consumer: tell users and customers what happened.

Booking outcomes (confirmed, rejected, cancelled, expired, rescheduled) and reminders of a
confirmed booking's start go to the booking's user;
REWARDS_DISTRIBUTED to every customer it credited (one notice each, points summed);
LEVEL_UPGRADED to the upgraded customer; REFUND_ISSUED to the refunded buyer;
REWARDS_REVERSED to every customer whose points a refund took back. Each notice is stored
in-app and queued for every enabled channel in the transaction that marks the event processed (see
shared.messaging.notifications for how channels are delivered and retried).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import asyncpg
from aiohttp import web
from prometheus_client import Counter

from services.notification_consumer.typedefs import SCHEMA, SERVICE
from shared.events.booking import BookingPayload, BookingReminder
from shared.events.checkout import (
    LevelUpgraded,
    RefundIssued,
    RewardCredit,
    RewardsDistributed,
    RewardsReversed,
)
from shared.events.envelope import Envelope
from shared.http.lifecycle import DATABASE
from shared.logging import get_logger
from shared.messaging.handling import EventHandler, EventHandlers
from shared.messaging.notifications import DISPATCHER, TEMPLATES, Notifier
from shared.messaging.processed import Effect, once

BOOKING_OUTCOMES = (
    "BOOKING_CONFIRMED",
    "BOOKING_REJECTED",
    "BOOKING_CANCELLED",
    "BOOKING_EXPIRED",
    "BOOKING_RESCHEDULED",
)

log = get_logger(__name__)

LATE_REMINDERS = Counter(
    "booking_reminders_late_total",
    "Booking reminders that arrived once their booking had started, so were not sent",
)

# How a cancel notice names who cancelled (older events do not say).
CANCELLED_BY = {"user": "You cancelled it.", "provider": "The provider cancelled it."}


def event_handlers(app: web.Application) -> EventHandlers:
    dispatcher = app[DISPATCHER]
    notifier = Notifier(SCHEMA, app[TEMPLATES], list(dispatcher.channels))

    async def booking_outcome(conn: asyncpg.Connection, envelope: Envelope) -> None:
        booking = envelope.payload()
        assert isinstance(booking, BookingPayload)
        values = booking.notice_values()
        values["cancelled_by"] = CANCELLED_BY.get(str(values.get("cancelled_by")), "")
        await notifier.notify(conn, envelope.id, booking.user_id, envelope.type, values)

    async def rewards(conn: asyncpg.Connection, envelope: Envelope) -> None:
        event = RewardsDistributed.model_validate(envelope.data)
        points: dict[str, int] = defaultdict(int)
        depth: dict[str, int] = {}
        for credit in event.credits:
            points[credit.customer_id] += credit.points
            depth.setdefault(credit.customer_id, credit.depth)
        for customer_id, earned in points.items():
            values = {
                "transaction_id": str(event.transaction_id),
                "buyer_id": event.buyer_id,
                "points": earned,
                "depth": depth[customer_id],
            }
            await notifier.notify(conn, envelope.id, customer_id, envelope.type, values)

    async def level_upgraded(conn: asyncpg.Connection, envelope: Envelope) -> None:
        event = LevelUpgraded.model_validate(envelope.data)
        values = event.model_dump(mode="json")
        await notifier.notify(conn, envelope.id, event.customer_id, envelope.type, values)

    async def refund_issued(conn: asyncpg.Connection, envelope: Envelope) -> None:
        event = RefundIssued.model_validate(envelope.data)
        values = {
            "transaction_id": str(event.transaction_id),
            "amount": _money(event.amount),
            "balance": _money(event.balance),
            "reason": f"Reason: {event.reason}" if event.reason else "",
        }
        await notifier.notify(conn, envelope.id, str(event.customer_id), envelope.type, values)

    async def rewards_reversed(conn: asyncpg.Connection, envelope: Envelope) -> None:
        event = RewardsReversed.model_validate(envelope.data)
        for customer_id, points in _per_member(event.reversals).items():
            values = {"transaction_id": str(event.transaction_id), "points": points}
            await notifier.notify(conn, envelope.id, customer_id, envelope.type, values)

    async def reminder(conn: asyncpg.Connection, envelope: Envelope) -> None:
        event = BookingReminder.model_validate(envelope.data)
        if datetime.now(UTC) >= event.starts_at:
            # Held up (a broker outage) past the start: "starts in 1 hour" would be false now.
            LATE_REMINDERS.inc()
            log.warning(
                "booking reminder arrived after the booking started, not sent",
                booking_id=str(event.booking_id),
                event_id=str(envelope.id),
                remind_at=event.remind_at.isoformat(),
            )
            return
        values = event.notice_values()
        values["lead"] = lead_text(event.lead_seconds)
        await notifier.notify(conn, envelope.id, event.user_id, envelope.type, values)

    def handler(effect: Effect) -> EventHandler:
        return once(app[DATABASE], SCHEMA, SERVICE, effect, after_commit=dispatcher.wake)

    routes = {type_: handler(booking_outcome) for type_ in BOOKING_OUTCOMES}
    routes["BOOKING_REMINDER"] = handler(reminder)
    routes["REWARDS_DISTRIBUTED"] = handler(rewards)
    routes["LEVEL_UPGRADED"] = handler(level_upgraded)
    routes["REFUND_ISSUED"] = handler(refund_issued)
    routes["REWARDS_REVERSED"] = handler(rewards_reversed)
    return routes


LEAD_UNITS = ((86_400, "day"), (3_600, "hour"), (60, "minute"), (1, "second"))


def lead_text(seconds: float) -> str:
    """A reminder's lead in words, in its largest unit and the next one: "1 day",
    "2 hours 30 minutes", "45 seconds" (rounded down past the second unit)."""
    left = max(1, round(seconds))
    counts = []
    for size, unit in LEAD_UNITS:
        count, left = divmod(left, size)
        counts.append((count, unit))
    first = next(i for i, (count, _) in enumerate(counts) if count)
    return " ".join(
        f"{count} {unit}{'' if count == 1 else 's'}"
        for count, unit in counts[first : first + 2]
        if count
    )


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _per_member(credits: list[RewardCredit]) -> dict[str, int]:
    points: dict[str, int] = defaultdict(int)
    for credit in credits:
        points[credit.customer_id] += credit.points
    return dict(points)
