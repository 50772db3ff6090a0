"""SQL of the reward worker, all inside the caller's transaction (schema `checkout`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from services.reward_worker.typedefs import SCHEMA


@dataclass(frozen=True)
class ClaimedCheckout:
    """A checkout whose rewards this transaction claimed, as its row in checkout records it."""

    transaction_id: uuid.UUID
    customer_id: uuid.UUID
    total: int
    upline: list[tuple[uuid.UUID, int, int]]  # (member, depth, level), nearest first


async def claim_rewards(
    conn: asyncpg.Connection, transaction_id: uuid.UUID, max_depth: int
) -> ClaimedCheckout | None:
    """Claim a checkout whose rewards are pending and read its buyer, total and upline, in
    one round trip.

    The claim is the transaction's row lock, held until the job's transaction ends; the
    rewards are marked done by the projection of the REWARDS_DISTRIBUTED the job records.
    A second job waits on the lock, then finds the rewards done. The buyer and the total
    come from the transaction row, never from the job: a forged or stale payload cannot
    choose who is credited or for how much. Returns None when the rewards were done already
    (or there is no such checkout): the caller must do nothing.
    """
    rows = await conn.fetch(
        f"""WITH claimed AS (
                SELECT id, customer_id, total FROM {SCHEMA}.transactions
                WHERE id = $1 AND rewards_status = 'pending'
                FOR NO KEY UPDATE)
            SELECT claimed.customer_id AS buyer, claimed.total,
                   u.customer_id, u.depth, c.level
            FROM claimed
            LEFT JOIN LATERAL {SCHEMA}.upline(claimed.customer_id, $2) u ON true
            LEFT JOIN {SCHEMA}.customers c ON c.id = u.customer_id
            ORDER BY u.depth""",
        transaction_id,
        max_depth,
    )
    if not rows:
        return None
    return ClaimedCheckout(
        transaction_id=transaction_id,
        customer_id=rows[0]["buyer"],
        total=int(rows[0]["total"]),
        upline=[
            (row["customer_id"], row["depth"], row["level"])
            for row in rows
            if row["customer_id"] is not None
        ],
    )


async def lock_level(conn: asyncpg.Connection, member: uuid.UUID) -> int | None:
    """A member's level, with a row lock held until the job's transaction ends (None if no
    such customer): two jobs cannot both upgrade one member from the same level."""
    level: int | None = await conn.fetchval(
        f"SELECT level FROM {SCHEMA}.customers WHERE id = $1 FOR NO KEY UPDATE", member
    )
    return level


async def points_balances(conn: asyncpg.Connection, members: list[str]) -> dict[str, int]:
    """Tree point balances of the members (those this transaction just credited)."""
    rows = await conn.fetch(
        f"""SELECT owner_id, balance FROM {SCHEMA}.ledger_accounts
            WHERE account_type = 'points' AND owner_id = ANY($1::text[])""",
        members,
    )
    return {row["owner_id"]: int(row["balance"]) for row in rows}
