"""The reward worker's read models in the checkout schema, folded from the events it appends.

On stream `transaction-<id>`, POINTS_CREDITED writes the points ledger entries of a
checkout's credits and REWARDS_DISTRIBUTED marks its rewards done; LEVEL_UPGRADED (stream
`customer-<id>`) raises the member's level. The rows these touch are created by
checkout_api's projectors (customers at level 1, transactions pending), so replaying
checkout's projectors followed by these rebuilds every row the worker wrote.
"""

from __future__ import annotations

import uuid

import asyncpg

from services.reward_worker.typedefs import SCHEMA
from shared.events.checkout import (
    LevelUpgraded,
    PointsCredited,
    PointsReversed,
    RewardsDistributed,
    RewardsReversed,
)
from shared.events.envelope import Envelope
from shared.storage import ledger
from shared.storage.ledger_projection import ProjectedEntry, apply_entries, reset_account_type
from shared.storage.projections import Projector


class RewardStatusProjector:
    """`rewards_status` and `rewards_done_at` of transactions."""

    name = "reward_status"

    async def reset(self, conn: asyncpg.Connection) -> None:
        """Nothing: checkout's transactions projector rebuilds the rows, pending."""

    async def apply(self, conn: asyncpg.Connection, event: Envelope, version: int) -> None:
        if event.type != "REWARDS_DISTRIBUTED":
            return
        await conn.execute(
            f"""UPDATE {SCHEMA}.transactions SET rewards_status = 'done', rewards_done_at = $2
                WHERE id = $1""",
            RewardsDistributed.model_validate(event.data).transaction_id,
            event.time,
        )


class PointsProjector:
    """Tree point balances and their ledger entries (account type `points`)."""

    name = "points"

    async def reset(self, conn: asyncpg.Connection) -> None:
        await reset_account_type(conn, SCHEMA, ledger.POINTS)

    async def apply(self, conn: asyncpg.Connection, event: Envelope, version: int) -> None:
        if event.type == "POINTS_REVERSED":
            await _apply_reversal(conn, PointsReversed.model_validate(event.data), event)
            return
        if event.type != "POINTS_CREDITED":
            return
        credited = PointsCredited.model_validate(event.data)
        entries = [
            ProjectedEntry(
                entry.entry_id,
                ledger.POINTS,
                entry.customer_id,
                entry.points,
                kind="reward_credit",
                reference=f"{credited.transaction_id}:{entry.depth}",
                details={
                    "transaction_id": str(credited.transaction_id),
                    "buyer_id": credited.buyer_id,
                    "depth": entry.depth,
                    "level": entry.level,
                    "rate": entry.rate,
                },
            )
            for entry in credited.entries
        ]
        await apply_entries(conn, SCHEMA, entries, event.time)


async def _apply_reversal(conn: asyncpg.Connection, taken: PointsReversed, event: Envelope) -> None:
    entries = [
        ProjectedEntry(
            entry.entry_id,
            ledger.POINTS,
            entry.customer_id,
            -entry.points,
            kind="reward_reversal",
            reference=f"{taken.refund_id}:{entry.depth}",
            details={
                "refund_id": str(taken.refund_id),
                "transaction_id": str(taken.transaction_id),
                "buyer_id": taken.buyer_id,
                "depth": entry.depth,
            },
        )
        for entry in taken.entries
    ]
    await apply_entries(conn, SCHEMA, entries, event.time)


class ReversalStatusProjector:
    """`reversal_status` and `reversed_at` of refunds."""

    name = "reversal_status"

    async def reset(self, conn: asyncpg.Connection) -> None:
        """Nothing: checkout's refunds projector rebuilds the rows, pending."""

    async def apply(self, conn: asyncpg.Connection, event: Envelope, version: int) -> None:
        if event.type != "REWARDS_REVERSED":
            return
        await conn.execute(
            f"""UPDATE {SCHEMA}.refunds SET reversal_status = 'done', reversed_at = $2
                WHERE id = $1""",
            RewardsReversed.model_validate(event.data).refund_id,
            event.time,
        )


class LevelsProjector:
    """Customers' levels."""

    name = "levels"

    async def reset(self, conn: asyncpg.Connection) -> None:
        """Nothing: checkout's customers projector rebuilds the rows at level 1."""

    async def apply(self, conn: asyncpg.Connection, event: Envelope, version: int) -> None:
        if event.type != "LEVEL_UPGRADED":
            return
        upgrade = LevelUpgraded.model_validate(event.data)
        # Levels never go down, whatever order two upgrades are folded in.
        await conn.execute(
            f"UPDATE {SCHEMA}.customers SET level = greatest(level, $2) WHERE id = $1",
            uuid.UUID(upgrade.customer_id),
            upgrade.new_level,
        )


PROJECTORS: tuple[Projector, ...] = (
    RewardStatusProjector(),
    PointsProjector(),
    LevelsProjector(),
    ReversalStatusProjector(),
)
