"""Checkout and reward events: published by checkout_api and reward_worker."""

from __future__ import annotations

import uuid

from shared.events.envelope import Payload, event_type

# Outbox destination of reward jobs: the relay hands them to the work queue.
REWARD_JOBS = "reward-jobs"


@event_type("CHECKOUT_COMPLETED")
class CheckoutCompleted(Payload):
    """The reward job: a paid checkout whose tree points are still to be distributed."""

    transaction_id: uuid.UUID
    customer_id: str
    total: int
    tier: int = 0


@event_type("REWARDS_DISTRIBUTED")
class RewardsDistributed(Payload):
    transaction_id: uuid.UUID
    buyer_id: str
    total: int
    credits: list[RewardCredit]


class RewardCredit(Payload):
    customer_id: str
    depth: int
    points: int


@event_type("LEVEL_UPGRADED")
class LevelUpgraded(Payload):
    customer_id: str
    old_level: int
    new_level: int
    total_points: int


RewardsDistributed.model_rebuild()
