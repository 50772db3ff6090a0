"""The unit of work of a reward job: what a command may read and write, and nothing else.

`PostgresUnitOfWork` runs on one connection inside the job's transaction: a command's writes
commit or roll back together, and a worker killed mid-job leaves nothing behind. Unit tests
hand the commands a fake with the same methods.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg

from services.reward_worker import storage
from services.reward_worker.domain import Credit, Member
from services.reward_worker.projections import PROJECTORS
from services.reward_worker.typedefs import SCHEMA
from shared.events.envelope import Envelope
from shared.messaging import outbox
from shared.storage.ledger import next_transfer_ids
from shared.storage.projections import record_next


@dataclass(frozen=True)
class ClaimedCheckout:
    """A checkout whose rewards this unit of work claimed, as its row in checkout records it:
    the buyer and the total come from the row, never from the job, so a forged or stale
    payload cannot choose who is credited or for how much."""

    transaction_id: uuid.UUID
    buyer: str
    total: int
    upline: tuple[Member, ...]  # nearest first


@dataclass(frozen=True)
class ClaimedRefund:
    """A refund whose reversal this unit of work claimed; amounts come from the rows."""

    refund_id: uuid.UUID
    transaction_id: uuid.UUID
    buyer: str
    total: int
    before: int  # what earlier refunds of the transaction paid back
    amount: int
    rewards_done: bool


class RewardUnitOfWork(Protocol):
    async def claim_rewards(
        self, transaction_id: uuid.UUID, max_depth: int
    ) -> ClaimedCheckout | None:
        """Lock a checkout whose rewards are pending, with its upline up to `max_depth`; None
        when they were done already (a second job waits for the first, then finds them done)
        or there is no such checkout."""
        ...

    async def lock_level(self, member: str) -> int | None:
        """A member's level, locked until the unit ends; None when no such customer."""
        ...

    async def points_balances(self, members: Sequence[str]) -> dict[str, int]:
        """The members' tree point balances, with what this unit recorded so far."""
        ...

    async def claim_refund(self, refund_id: uuid.UUID) -> ClaimedRefund | None:
        """Lock a refund whose reversal is pending; None when done already or unknown."""
        ...

    async def checkout_credits(self, transaction_id: uuid.UUID) -> list[Credit]:
        """The credits a checkout's rewards paid, nearest member first."""
        ...

    async def next_entry_ids(self, count: int) -> list[int]:
        """Reserve ledger entry ids for the event that will carry them."""
        ...

    async def record_next(self, stream: str, events: Sequence[Envelope], actor: str) -> None:
        """Append after the stream's last version, whatever it is, and project."""
        ...

    async def publish(self, destination: str, event: Envelope) -> None:
        """Send the event to a destination through the outbox, when the unit commits."""
        ...


class PostgresUnitOfWork:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def claim_rewards(
        self, transaction_id: uuid.UUID, max_depth: int
    ) -> ClaimedCheckout | None:
        rows = await storage.claim_rewards(self.conn, transaction_id, max_depth)
        if not rows:
            return None
        upline = tuple(
            Member(str(row["customer_id"]), row["depth"], row["level"])
            for row in rows
            if row["customer_id"] is not None
        )
        return ClaimedCheckout(transaction_id, str(rows[0]["buyer"]), int(rows[0]["total"]), upline)

    async def lock_level(self, member: str) -> int | None:
        return await storage.lock_level(self.conn, uuid.UUID(member))

    async def points_balances(self, members: Sequence[str]) -> dict[str, int]:
        return await storage.points_balances(self.conn, list(members))

    async def claim_refund(self, refund_id: uuid.UUID) -> ClaimedRefund | None:
        row = await storage.claim_refund(self.conn, refund_id)
        if row is None:
            return None
        return ClaimedRefund(
            refund_id,
            row["transaction_id"],
            str(row["customer_id"]),
            int(row["total"]),
            int(row["refunded_before"]),
            int(row["amount"]),
            row["rewards_status"] == "done",
        )

    async def checkout_credits(self, transaction_id: uuid.UUID) -> list[Credit]:
        rows = await storage.checkout_credits(self.conn, transaction_id)
        return [
            Credit(row["owner_id"], row["depth"], int(row["amount"]), row["level"], row["rate"])
            for row in rows
        ]

    async def next_entry_ids(self, count: int) -> list[int]:
        return await next_transfer_ids(self.conn, SCHEMA, count)

    async def record_next(self, stream: str, events: Sequence[Envelope], actor: str) -> None:
        await record_next(self.conn, SCHEMA, stream, events, PROJECTORS, actor=actor)

    async def publish(self, destination: str, event: Envelope) -> None:
        await outbox.add(self.conn, SCHEMA, destination, event)
