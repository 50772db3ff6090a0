"""The work queue's edge of the reward worker: a job in, one database transaction, a command.

Both job types carry the envelope of the checkout event that caused them (the job type is
its event type): CHECKOUT_COMPLETED gets its rewards distributed, REFUND_ISSUED gets them
reversed in proportion. Metrics count what committed.
"""

from __future__ import annotations

from prometheus_client import Counter

from services.reward_worker import commands
from services.reward_worker.domain import RewardRules
from services.reward_worker.uow import PostgresUnitOfWork
from shared.events.checkout import CheckoutCompleted, RefundIssued
from shared.events.envelope import REGISTRY, Envelope
from shared.logging import bound_context
from shared.storage.pool import Database
from shared.workqueue import Job
from shared.workqueue.deadline import JobHandler

REWARD_JOB = REGISTRY.type_of(CheckoutCompleted)
REVERSAL_JOB = REGISTRY.type_of(RefundIssued)

POINTS_CREDITED = Counter("rewards_points_credited_total", "Tree points credited")
POINTS_REVERSED = Counter("rewards_points_reversed_total", "Tree points taken back by refunds")
LEVEL_UPGRADES = Counter("rewards_level_upgrades_total", "Level upgrades applied")
CHECKOUTS_REWARDED = Counter("rewards_checkouts_total", "Reward jobs by outcome", ["outcome"])


def reward_handler(db: Database, rules: RewardRules) -> JobHandler:
    """The handler of CHECKOUT_COMPLETED jobs: the checkout's rewards, once."""

    async def handle(job: Job) -> None:
        envelope = Envelope.model_validate(job.payload)
        with bound_context(correlation_id=envelope.correlationid, traceparent=envelope.traceparent):
            async with db.transaction() as conn:
                rewarded = await commands.distribute(PostgresUnitOfWork(conn), rules, envelope)
        if rewarded is None:
            CHECKOUTS_REWARDED.labels("already_done").inc()
            return
        CHECKOUTS_REWARDED.labels("rewarded").inc()
        POINTS_CREDITED.inc(sum(credit.points for credit in rewarded.distributed.credits))
        LEVEL_UPGRADES.inc(len(rewarded.upgrades))

    return handle


def reversal_handler(db: Database) -> JobHandler:
    """The handler of REFUND_ISSUED jobs: the refund's share of the rewards taken back, once."""

    async def handle(job: Job) -> None:
        envelope = Envelope.model_validate(job.payload)
        with bound_context(correlation_id=envelope.correlationid, traceparent=envelope.traceparent):
            async with db.transaction() as conn:
                reversed_ = await commands.reverse(PostgresUnitOfWork(conn), envelope)
        if reversed_ is not None:
            POINTS_REVERSED.inc(sum(back.points for back in reversed_.reversals))

    return handle


def job_handlers(db: Database, rules: RewardRules) -> dict[str, JobHandler]:
    """Every job type the worker runs: checkout rewards and refund reversals."""
    return {REWARD_JOB: reward_handler(db, rules), REVERSAL_JOB: reversal_handler(db)}
