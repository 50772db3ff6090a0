"""The reward worker's read models in the checkout schema, folded from the events it appends.

On stream `transaction-<id>`, POINTS_CREDITED writes the points ledger entries of a
checkout's credits and REWARDS_DISTRIBUTED marks its rewards done; POINTS_REVERSED writes a
refund's reversal entries and REWARDS_REVERSED marks the reversal done; LEVEL_UPGRADED
(stream `customer-<id>`) raises the member's level. The rows the status and level updates
touch are created by checkout_api's projectors (customers at level 1, transactions and
refunds pending), so replaying checkout's projectors followed by these rebuilds every row
the worker wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg

from services.reward_worker.typedefs import SCHEMA
from shared.events.checkout import (
    LevelUpgraded,
    PointsCredited,
    PointsEntry,
    PointsReversed,
    RewardsDistributed,
    RewardsReversed,
)
from shared.events.envelope import REGISTRY, Envelope, Payload
from shared.storage import ledger
from shared.storage.projections import Projector


class RowUpdate:
    """A projector that answers one event type with one UPDATE of rows checkout's own
    projectors create and rebuild: its reset has nothing to remove."""

    def __init__(
        self,
        name: str,
        payload: type[Payload],
        sql: str,
        args: Callable[[Any, Envelope], tuple[object, ...]],  # (the payload, its envelope)
    ) -> None:
        self.name = name
        self.payload = payload
        self.event_type = REGISTRY.type_of(payload)
        self.sql = sql
        self.args = args

    async def reset(self, conn: asyncpg.Connection) -> None:
        """Nothing: the rows are checkout's, rebuilt before these updates run again."""

    async def apply(self, conn: asyncpg.Connection, event: Envelope, version: int) -> None:
        if event.type == self.event_type:
            data = self.payload.model_validate(event.data)
            await conn.execute(self.sql, *self.args(data, event))


REWARD_STATUS = RowUpdate(
    "reward_status",
    RewardsDistributed,
    f"""UPDATE {SCHEMA}.transactions SET rewards_status = 'done', rewards_done_at = $2
        WHERE id = $1""",
    lambda distributed, event: (distributed.transaction_id, event.time),
)

REVERSAL_STATUS = RowUpdate(
    "reversal_status",
    RewardsReversed,
    f"UPDATE {SCHEMA}.refunds SET reversal_status = 'done', reversed_at = $2 WHERE id = $1",
    lambda reversed_, event: (reversed_.refund_id, event.time),
)

# Levels never go down, whatever order two upgrades are folded in.
LEVELS = RowUpdate(
    "levels",
    LevelUpgraded,
    f"UPDATE {SCHEMA}.customers SET level = greatest(level, $2) WHERE id = $1",
    lambda upgrade, event: (uuid.UUID(upgrade.customer_id), upgrade.new_level),
)


class PointsProjector:
    """Tree point balances and their ledger entries (account type `points`): a credit per
    upline member of a checkout, and what each refund took back of them."""

    name = "points"

    async def reset(self, conn: asyncpg.Connection) -> None:
        await ledger.reset_kinds(conn, SCHEMA, ("reward_credit", "reward_reversal"))

    async def apply(self, conn: asyncpg.Connection, event: Envelope, version: int) -> None:
        if event.type == "POINTS_CREDITED":
            credited = PointsCredited.model_validate(event.data)
            paid = {"transaction_id": str(credited.transaction_id), "buyer_id": credited.buyer_id}
            entries = [
                _entry(
                    e,
                    e.points,
                    "reward_credit",
                    credited.transaction_id,
                    {**paid, "level": e.level, "rate": e.rate},
                )
                for e in credited.entries
            ]
        elif event.type == "POINTS_REVERSED":
            taken = PointsReversed.model_validate(event.data)
            refund = {
                "refund_id": str(taken.refund_id),
                "transaction_id": str(taken.transaction_id),
                "buyer_id": taken.buyer_id,
            }
            entries = [
                _entry(e, -e.points, "reward_reversal", taken.refund_id, refund)
                for e in taken.entries
            ]
        else:
            return
        await ledger.post(conn, SCHEMA, entries, at=event.time)


def _entry(
    entry: PointsEntry, amount: int, kind: str, key: uuid.UUID, details: dict[str, Any]
) -> ledger.Transfer:
    """One points transfer between the mall's reward expense and the member (to the member
    when `amount` is positive), referenced `<key>:<depth>`. A credit's details keep the
    member's level and rate: a reversal reads them back."""
    member = ledger.points(entry.customer_id)
    return ledger.Transfer(
        entry.entry_id,
        kind,
        f"{key}:{entry.depth}",
        debit=ledger.REWARDS if amount > 0 else member,
        credit=member if amount > 0 else ledger.REWARDS,
        amount=abs(amount),
        details={**details, "depth": entry.depth},
    )


PROJECTORS: tuple[Projector, ...] = (REWARD_STATUS, PointsProjector(), LEVELS, REVERSAL_STATUS)
