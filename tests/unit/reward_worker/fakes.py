"""A unit of work in memory, for the reward worker's command tests (no PostgreSQL).

It keeps what the worker's tables hold (customers with their referrer and level, checkouts
and refunds with their status, points balances and credits) and folds the events the
commands record into them the way projections.py does.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from services.reward_worker.domain import Credit, Member
from services.reward_worker.uow import ClaimedCheckout, ClaimedRefund
from shared.events.envelope import Envelope


@dataclass
class FakeCheckout:
    buyer: str
    total: int
    rewards_done: bool = False


@dataclass
class FakeRefund:
    transaction_id: uuid.UUID
    amount: int
    before: int
    reversal_done: bool = False


@dataclass
class FakeUnitOfWork:
    """Customers, checkouts, refunds, points and the outbox in dictionaries and lists."""

    referrers: dict[str, str | None] = field(default_factory=dict)
    levels: dict[str, int] = field(default_factory=dict)
    checkouts: dict[uuid.UUID, FakeCheckout] = field(default_factory=dict)
    refunds: dict[uuid.UUID, FakeRefund] = field(default_factory=dict)
    points: dict[str, int] = field(default_factory=dict)
    credits: dict[uuid.UUID, list[Credit]] = field(default_factory=dict)
    streams: dict[str, list[Envelope]] = field(default_factory=dict)
    published: list[tuple[str, Envelope]] = field(default_factory=list)
    locked_levels: list[str] = field(default_factory=list)
    last_entry_id: int = 0

    # What the tests set up.

    def chain(self, length: int) -> list[str]:
        """A referral chain of `length` customers at level 1, the buyer first, each referred
        by the next one."""
        members = [str(uuid.uuid4()) for _ in range(length)]
        for member, referrer in zip(members, [*members[1:], None], strict=True):
            self.referrers[member] = referrer
            self.levels[member] = 1
        return members

    def checkout(self, buyer: str, total: int) -> uuid.UUID:
        """A paid checkout whose rewards are pending."""
        transaction_id = uuid.uuid4()
        self.checkouts[transaction_id] = FakeCheckout(buyer, total)
        return transaction_id

    def refund(self, transaction_id: uuid.UUID, amount: int) -> uuid.UUID:
        """A refund of the checkout whose reversal is pending, after the earlier ones."""
        before = sum(r.amount for r in self.refunds.values() if r.transaction_id == transaction_id)
        refund_id = uuid.uuid4()
        self.refunds[refund_id] = FakeRefund(transaction_id, amount, before)
        return refund_id

    def types(self, stream: str) -> list[str]:
        return [event.type for event in self.streams.get(stream, [])]

    # The unit of work.

    async def claim_rewards(
        self, transaction_id: uuid.UUID, max_depth: int
    ) -> ClaimedCheckout | None:
        checkout = self.checkouts.get(transaction_id)
        if checkout is None or checkout.rewards_done:
            return None
        upline: list[Member] = []
        member = self.referrers.get(checkout.buyer)
        while member is not None and len(upline) < max_depth:
            upline.append(Member(member, len(upline) + 1, self.levels[member]))
            member = self.referrers.get(member)
        return ClaimedCheckout(transaction_id, checkout.buyer, checkout.total, tuple(upline))

    async def lock_level(self, member: str) -> int | None:
        self.locked_levels.append(member)
        return self.levels.get(member)

    async def points_balances(self, members: Sequence[str]) -> dict[str, int]:
        return {m: self.points[m] for m in members if m in self.points}

    async def claim_refund(self, refund_id: uuid.UUID) -> ClaimedRefund | None:
        refund = self.refunds.get(refund_id)
        if refund is None or refund.reversal_done:
            return None
        checkout = self.checkouts[refund.transaction_id]
        return ClaimedRefund(
            refund_id,
            refund.transaction_id,
            checkout.buyer,
            checkout.total,
            refund.before,
            refund.amount,
            checkout.rewards_done,
        )

    async def checkout_credits(self, transaction_id: uuid.UUID) -> list[Credit]:
        return sorted(self.credits.get(transaction_id, []), key=lambda c: c.depth)

    async def next_entry_ids(self, count: int) -> list[int]:
        self.last_entry_id += count
        return list(range(self.last_entry_id - count + 1, self.last_entry_id + 1))

    async def record_next(self, stream: str, events: Sequence[Envelope], actor: str) -> None:
        for event in events:
            self.streams.setdefault(stream, []).append(event)
            self._project(event)

    async def publish(self, destination: str, event: Envelope) -> None:
        self.published.append((destination, event))

    def _project(self, event: Envelope) -> None:
        data, kind = event.data, event.type
        if kind == "POINTS_CREDITED":
            paid = self.credits.setdefault(uuid.UUID(data["transaction_id"]), [])
            for e in data["entries"]:
                member = e["customer_id"]
                self.points[member] = self.points.get(member, 0) + e["points"]
                paid.append(Credit(member, e["depth"], e["points"], e["level"], e["rate"]))
        elif kind == "POINTS_REVERSED":
            for e in data["entries"]:
                balance = self.points[e["customer_id"]] - e["points"]
                assert balance >= 0, "a points balance never goes below zero (CHECK)"
                self.points[e["customer_id"]] = balance
        elif kind == "REWARDS_DISTRIBUTED":
            self.checkouts[uuid.UUID(data["transaction_id"])].rewards_done = True
        elif kind == "REWARDS_REVERSED":
            self.refunds[uuid.UUID(data["refund_id"])].reversal_done = True
        elif kind == "LEVEL_UPGRADED":
            member = data["customer_id"]
            self.levels[member] = max(self.levels[member], data["new_level"])
