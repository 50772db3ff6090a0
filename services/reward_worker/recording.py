"""How the worker records what it decided: events appended to checkout's event store and
projected (projections.py) in the job's transaction, notices written to the outbox.

A checkout's rewards are two events on its stream `transaction-<id>`: POINTS_CREDITED (the
ledger entries, under ids reserved here, internal) and REWARDS_DISTRIBUTED (the notice). A
level upgrade is LEVEL_UPGRADED on the member's stream `customer-<id>`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from services.reward_worker.projections import PROJECTORS
from services.reward_worker.typedefs import SCHEMA, SOURCE
from shared.events.checkout import (
    LevelUpgraded,
    PointsCredited,
    PointsEntry,
    RewardCredit,
    RewardsDistributed,
)
from shared.events.envelope import Envelope, Payload, Trace, make_envelope
from shared.messaging import outbox
from shared.messaging.destinations import USER_NOTICES
from shared.storage.ledger_projection import next_entry_ids
from shared.storage.projections import record_next


@dataclass(frozen=True)
class Credit:
    """Points for one upline member; `level` and `rate` are the member's before the credit."""

    member: str
    depth: int
    points: int
    level: int
    rate: int


def _envelope(payload: Payload, subject: str, cause: Envelope) -> Envelope:
    return make_envelope(payload, source=SOURCE, subject=subject, trace=Trace.following(cause))


async def record_rewards(
    conn: asyncpg.Connection,
    transaction_id: uuid.UUID,
    buyer: str,
    total: int,
    credits: list[Credit],
    cause: Envelope,
) -> Envelope:
    """Record a checkout's credits (points move, rewards done); return the notice to send."""
    ids = await next_entry_ids(conn, SCHEMA, len(credits))
    credited = PointsCredited(
        transaction_id=transaction_id,
        buyer_id=buyer,
        entries=[
            PointsEntry(
                entry_id=entry_id,
                customer_id=c.member,
                depth=c.depth,
                points=c.points,
                level=c.level,
                rate=c.rate,
            )
            for entry_id, c in zip(ids, credits, strict=True)
        ],
    )
    distributed = RewardsDistributed(
        transaction_id=transaction_id,
        buyer_id=buyer,
        total=total,
        credits=[
            RewardCredit(customer_id=c.member, depth=c.depth, points=c.points) for c in credits
        ],
    )
    events = [
        _envelope(credited, buyer, cause),
        _envelope(distributed, buyer, cause),
    ]
    stream = f"transaction-{transaction_id}"
    await record_next(conn, SCHEMA, stream, events, PROJECTORS, actor=SOURCE)
    return events[1]


async def record_upgrade(conn: asyncpg.Connection, upgrade: LevelUpgraded, cause: Envelope) -> None:
    """Record a level upgrade and send its notice."""
    event = _envelope(upgrade, upgrade.customer_id, cause)
    stream = f"customer-{upgrade.customer_id}"
    await record_next(conn, SCHEMA, stream, [event], PROJECTORS, actor=SOURCE)
    await notify(conn, event)


async def notify(conn: asyncpg.Connection, event: Envelope) -> None:
    """Write a notice to the outbox (customers hear of it through the confirmation queue)."""
    await outbox.add(conn, SCHEMA, USER_NOTICES, event)
