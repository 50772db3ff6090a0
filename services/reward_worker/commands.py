"""What a reward job changes: a checkout's rewards, or a refund's reversal of them.

Each command is claim, decide, record, publish, in the job's unit of work: the claim locks
the pending row (a job run twice finds it done and does nothing), the rules decide the
points (domain.py), the events are appended to checkout's event store and projected, and
the notices go to the outbox for notification_consumer.

A checkout's rewards are two events on its stream `transaction-<id>`: POINTS_CREDITED (the
ledger entries, under ids reserved first, internal) and REWARDS_DISTRIBUTED (the notice); a
level upgrade is LEVEL_UPGRADED on the member's stream `customer-<id>`. A refund's reversal
is POINTS_REVERSED (internal) and REWARDS_REVERSED (the notice) on the transaction's stream.
Levels never go down (docs/reward-worker.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.reward_worker.domain import Credit, RewardRules, take_back
from services.reward_worker.typedefs import SOURCE
from services.reward_worker.uow import RewardUnitOfWork
from shared.events.checkout import (
    CheckoutCompleted,
    LevelUpgraded,
    PointsCredited,
    PointsEntry,
    PointsReversed,
    RefundIssued,
    RewardCredit,
    RewardsDistributed,
    RewardsReversed,
    customer_stream,
    transaction_stream,
)
from shared.events.envelope import Envelope, Payload, Trace, make_envelope
from shared.messaging.destinations import USER_NOTICES


class RewardsNotPaidYet(Exception):
    """The refunded checkout's rewards are still pending: the job is retried later."""


@dataclass(frozen=True)
class Rewarded:
    """What one checkout's rewards did: the notice sent and the level upgrades applied."""

    distributed: RewardsDistributed
    upgrades: tuple[LevelUpgraded, ...]


async def distribute(uow: RewardUnitOfWork, rules: RewardRules, job: Envelope) -> Rewarded | None:
    """Credit the upline of the job's checkout; None when its rewards were done already.
    The job names only the transaction: its buyer and total are read from the claimed row."""
    completed = CheckoutCompleted.model_validate(job.data)
    checkout = await uow.claim_rewards(completed.transaction_id, rules.max_depth)
    if checkout is None:
        return None
    credits = rules.credits(checkout.total, checkout.upline)
    ids = await uow.next_entry_ids(len(credits))
    credited = PointsCredited(
        transaction_id=checkout.transaction_id,
        buyer_id=checkout.buyer,
        entries=_entries(ids, credits),
    )
    distributed = RewardsDistributed(
        transaction_id=checkout.transaction_id,
        buyer_id=checkout.buyer,
        total=checkout.total,
        credits=_reward_credits(credits),
    )
    stream = transaction_stream(checkout.transaction_id)
    _, notice = await _record(uow, stream, [credited, distributed], checkout.buyer, job)
    upgrades = await _raise_levels(uow, rules, credits, job)
    await uow.publish(USER_NOTICES, notice)
    return Rewarded(distributed, upgrades)


async def _raise_levels(
    uow: RewardUnitOfWork, rules: RewardRules, credits: Sequence[Credit], job: Envelope
) -> tuple[LevelUpgraded, ...]:
    """Raise each credited member whose new point total reaches a higher level."""
    levels = {credit.member: credit.level for credit in credits}
    balances = await uow.points_balances(list(levels))
    upgrades: list[LevelUpgraded] = []
    # Sorted like the accounts, so concurrent jobs lock customers in one order too.
    for member, total_points in sorted(balances.items()):
        new_level = rules.level_for(total_points)
        if new_level <= levels[member]:
            continue
        old_level = await uow.lock_level(member)  # another job may have raised it meanwhile
        if old_level is None or old_level >= new_level:
            continue
        upgrade = LevelUpgraded(
            customer_id=member,
            old_level=old_level,
            new_level=new_level,
            total_points=total_points,
        )
        (event,) = await _record(uow, customer_stream(member), [upgrade], member, job)
        await uow.publish(USER_NOTICES, event)
        upgrades.append(upgrade)
    return tuple(upgrades)


async def reverse(uow: RewardUnitOfWork, job: Envelope) -> RewardsReversed | None:
    """Take back the job's refund's share of its checkout's credits; None when the reversal
    was done already. RewardsNotPaidYet while the checkout's rewards are still pending."""
    issued = RefundIssued.model_validate(job.data)
    refund = await uow.claim_refund(issued.refund_id)
    if refund is None:
        return None
    if not refund.rewards_done:
        raise RewardsNotPaidYet(f"rewards of {refund.transaction_id} are still pending")
    credits = await uow.checkout_credits(refund.transaction_id)
    backs = take_back(credits, refund.total, refund.before, refund.amount)
    ids = await uow.next_entry_ids(len(backs))
    taken = PointsReversed(
        refund_id=refund.refund_id,
        transaction_id=refund.transaction_id,
        buyer_id=refund.buyer,
        entries=_entries(ids, backs),
    )
    reversed_ = RewardsReversed(
        refund_id=refund.refund_id,
        transaction_id=refund.transaction_id,
        buyer_id=refund.buyer,
        reversals=_reward_credits(backs),
    )
    stream = transaction_stream(refund.transaction_id)
    _, notice = await _record(uow, stream, [taken, reversed_], refund.buyer, job)
    await uow.publish(USER_NOTICES, notice)
    return reversed_


async def _record(
    uow: RewardUnitOfWork, stream: str, payloads: Sequence[Payload], subject: str, job: Envelope
) -> list[Envelope]:
    """Append the payloads, caused by the job, to the stream; return their envelopes."""
    trace = Trace.following(job)
    events = [make_envelope(p, source=SOURCE, subject=subject, trace=trace) for p in payloads]
    await uow.record_next(stream, events, SOURCE)
    return events


def _entries(ids: Sequence[int], credits: Sequence[Credit]) -> list[PointsEntry]:
    return [
        PointsEntry(
            entry_id=entry_id,
            customer_id=c.member,
            depth=c.depth,
            points=c.points,
            level=c.level,
            rate=c.rate,
        )
        for entry_id, c in zip(ids, credits, strict=True)
    ]


def _reward_credits(credits: Sequence[Credit]) -> list[RewardCredit]:
    return [RewardCredit(customer_id=c.member, depth=c.depth, points=c.points) for c in credits]
