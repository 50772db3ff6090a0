"""SQL of the reward worker, all inside the caller's transaction (schema `checkout`).

The unit of work (uow.py) turns these rows into what the commands read.
"""

from __future__ import annotations

import uuid

import asyncpg

from services.reward_worker.typedefs import SCHEMA


async def claim_rewards(
    conn: asyncpg.Connection, transaction_id: uuid.UUID, max_depth: int
) -> list[asyncpg.Record]:
    """Claim a checkout whose rewards are pending and read its buyer, total and upline, in
    one round trip: a row per upline member nearest first (one row with no member when the
    buyer has no referrer), none when the rewards were done already or there is no such
    checkout.

    The claim is the transaction's row lock, held until the job's transaction ends; the
    rewards are marked done by the projection of the REWARDS_DISTRIBUTED the job records.
    A second job waits on the lock, then finds the rewards done.
    """
    rows: list[asyncpg.Record] = await conn.fetch(
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
    return rows


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


async def claim_refund(conn: asyncpg.Connection, refund_id: uuid.UUID) -> asyncpg.Record | None:
    """Lock a refund whose reversal is pending, with its transaction's total and reward
    status (None when done already or unknown)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"""SELECT r.transaction_id, r.customer_id, r.amount, r.refunded_before, t.total,
                   t.rewards_status
            FROM {SCHEMA}.refunds r JOIN {SCHEMA}.transactions t ON t.id = r.transaction_id
            WHERE r.id = $1 AND r.reversal_status = 'pending'
            FOR NO KEY UPDATE OF r""",
        refund_id,
    )
    return row


async def checkout_credits(
    conn: asyncpg.Connection, transaction_id: uuid.UUID
) -> list[asyncpg.Record]:
    """The points entries a checkout's rewards credited, nearest member first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT credit_owner AS owner_id, amount, (details->>'depth')::int AS depth,
                   (details->>'level')::int AS level, (details->>'rate')::int AS rate
            FROM {SCHEMA}.ledger_transfers
            WHERE kind = 'reward_credit' AND details->>'transaction_id' = $1
            ORDER BY depth""",
        str(transaction_id),
    )
    return rows
