"""The reward job: distribute a checkout's tree points up the referral tree, once."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from prometheus_client import Counter

from services.reward_worker import storage
from services.reward_worker.domain import RewardRules
from shared.events.checkout import (
    CheckoutCompleted,
    LevelUpgraded,
    RewardCredit,
    RewardsDistributed,
)
from shared.events.envelope import Envelope, make_envelope
from shared.logging import bound_context
from shared.messaging import outbox
from shared.messaging.sqs import BOOKING_CONFIRMATION
from shared.storage import ledger
from shared.storage.pool import Database
from shared.workqueue import Job

SOURCE = "reward_worker"
JOB_TYPE = "CHECKOUT_COMPLETED"

POINTS_CREDITED = Counter("rewards_points_credited_total", "Tree points credited")
LEVEL_UPGRADES = Counter("rewards_level_upgrades_total", "Level upgrades applied")
CHECKOUTS_REWARDED = Counter("rewards_checkouts_total", "Reward jobs by outcome", ["outcome"])


async def distribute(
    conn: asyncpg.Connection, rules: RewardRules, envelope: Envelope
) -> RewardsDistributed | None:
    """Credit the upline of one checkout inside the caller's transaction.

    Returns None when the checkout's rewards were done already (a job run twice credits once).
    The job names only the transaction: its buyer and total are read from the row it claims.
    """
    job = CheckoutCompleted.model_validate(envelope.data)
    checkout = await storage.claim_rewards(conn, job.transaction_id, rules.max_depth)
    if checkout is None:
        return None
    buyer = str(checkout.customer_id)
    credits: list[RewardCredit] = []
    postings: list[ledger.Posting] = []
    levels: dict[str, int] = {}
    for member, depth, level in checkout.upline:
        points = rules.points(checkout.total, depth, level)
        if points <= 0:
            continue
        credits.append(RewardCredit(customer_id=str(member), depth=depth, points=points))
        levels[str(member)] = level
        postings.append(
            ledger.Posting(
                ledger.POINTS,
                str(member),
                points,
                kind="reward_credit",
                reference=f"{checkout.transaction_id}:{depth}",
                details={
                    "transaction_id": str(checkout.transaction_id),
                    "buyer_id": buyer,
                    "depth": depth,
                    "level": level,
                    "rate": rules.rate(level),
                },
            )
        )
    balances = await ledger.post_many(conn, storage.SCHEMA, postings)
    # Sorted like the accounts, so concurrent jobs lock customers in one order too.
    for (_, owner), total_points in sorted(balances.items()):
        if rules.level_for(total_points) > levels[owner]:
            await _upgrade(conn, rules, uuid.UUID(owner), total_points, envelope)
    event = RewardsDistributed(
        transaction_id=checkout.transaction_id,
        buyer_id=buyer,
        total=checkout.total,
        credits=credits,
    )
    await _emit(conn, event, "REWARDS_DISTRIBUTED", buyer, envelope)
    POINTS_CREDITED.inc(sum(c.points for c in credits))
    return event


async def _upgrade(
    conn: asyncpg.Connection,
    rules: RewardRules,
    member: uuid.UUID,
    total_points: int,
    cause: Envelope,
) -> None:
    new_level = rules.level_for(total_points)
    old_level = await storage.raise_level(conn, member, new_level)
    if old_level is None:
        return
    upgrade = LevelUpgraded(
        customer_id=str(member),
        old_level=old_level,
        new_level=new_level,
        total_points=total_points,
    )
    await _emit(conn, upgrade, "LEVEL_UPGRADED", str(member), cause)
    LEVEL_UPGRADES.inc()


async def _emit(
    conn: asyncpg.Connection, payload: Any, type_: str, subject: str, cause: Envelope
) -> None:
    envelope = make_envelope(
        payload, type_=type_, source=SOURCE, subject=subject, causationid=str(cause.id)
    )
    await outbox.add(conn, storage.SCHEMA, BOOKING_CONFIRMATION, envelope)


def reward_handler(db: Database, rules: RewardRules) -> Callable[[Job], Awaitable[None]]:
    """The work queue handler of CHECKOUT_COMPLETED jobs: one database transaction each."""

    async def handle(job: Job) -> None:
        envelope = Envelope.model_validate(job.payload)
        with bound_context(correlation_id=envelope.correlationid, traceparent=envelope.traceparent):
            async with db.transaction() as conn:
                result = await distribute(conn, rules, envelope)
        CHECKOUTS_REWARDED.labels("rewarded" if result else "already_done").inc()

    return handle
