"""The reward job: distribute a checkout's tree points up the referral tree, once."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import asyncpg
from prometheus_client import Counter

from services.reward_worker import storage
from services.reward_worker.domain import RewardRules
from services.reward_worker.recording import Credit, notify, record_rewards, record_upgrade
from services.reward_worker.reversals import REVERSAL_JOB, reversal_handler
from services.reward_worker.typedefs import SOURCE
from shared.events.checkout import CheckoutCompleted, LevelUpgraded, RewardsDistributed
from shared.events.envelope import Envelope
from shared.logging import bound_context
from shared.storage.pool import Database
from shared.workqueue import Job

__all__ = ["JOB_TYPE", "SOURCE", "distribute", "job_handlers", "reward_handler"]

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
    credits: list[Credit] = []
    for member, depth, level in checkout.upline:
        points = rules.points(checkout.total, depth, level)
        if points > 0:
            credits.append(Credit(str(member), depth, points, level, rules.rate(level)))
    notice = await record_rewards(
        conn, checkout.transaction_id, buyer, checkout.total, credits, envelope
    )
    levels = {c.member: c.level for c in credits}
    balances = await storage.points_balances(conn, list(levels))
    # Sorted like the accounts, so concurrent jobs lock customers in one order too.
    for owner, total_points in sorted(balances.items()):
        if rules.level_for(total_points) > levels[owner]:
            await _upgrade(conn, rules, uuid.UUID(owner), total_points, envelope)
    await notify(conn, notice)
    POINTS_CREDITED.inc(sum(c.points for c in credits))
    return RewardsDistributed.model_validate(notice.data)


async def _upgrade(
    conn: asyncpg.Connection,
    rules: RewardRules,
    member: uuid.UUID,
    total_points: int,
    cause: Envelope,
) -> None:
    new_level = rules.level_for(total_points)
    old_level = await storage.lock_level(conn, member)
    if old_level is None or old_level >= new_level:
        return
    upgrade = LevelUpgraded(
        customer_id=str(member),
        old_level=old_level,
        new_level=new_level,
        total_points=total_points,
    )
    await record_upgrade(conn, upgrade, cause)
    LEVEL_UPGRADES.inc()


def reward_handler(db: Database, rules: RewardRules) -> Callable[[Job], Awaitable[None]]:
    """The work queue handler of CHECKOUT_COMPLETED jobs: one database transaction each."""

    async def handle(job: Job) -> None:
        envelope = Envelope.model_validate(job.payload)
        with bound_context(correlation_id=envelope.correlationid, traceparent=envelope.traceparent):
            async with db.transaction() as conn:
                result = await distribute(conn, rules, envelope)
        CHECKOUTS_REWARDED.labels("rewarded" if result else "already_done").inc()

    return handle


def job_handlers(db: Database, rules: RewardRules) -> dict[str, Callable[[Job], Awaitable[None]]]:
    """Every job type the worker runs: checkout rewards and refund reversals."""
    return {JOB_TYPE: reward_handler(db, rules), REVERSAL_JOB: reversal_handler(db)}
