"""SQL of the reward worker, all inside the caller's transaction (schema `checkout`)."""

from __future__ import annotations

import uuid

import asyncpg

SCHEMA = "checkout"


async def claim_rewards(conn: asyncpg.Connection, transaction_id: uuid.UUID) -> bool:
    """Mark a checkout's rewards done; False when they were done already (or no such row)."""
    row = await conn.fetchval(
        """UPDATE checkout.transactions SET rewards_status = 'done', rewards_done_at = now()
           WHERE id = $1 AND rewards_status = 'pending' RETURNING id""",
        transaction_id,
    )
    return row is not None


async def upline(
    conn: asyncpg.Connection, customer_id: uuid.UUID, max_depth: int
) -> list[tuple[uuid.UUID, int, int]]:
    """(member, depth, level) of the upline, nearest first."""
    rows = await conn.fetch(
        """SELECT u.customer_id, u.depth, c.level
           FROM checkout.upline($1, $2) u JOIN checkout.customers c ON c.id = u.customer_id
           ORDER BY u.depth""",
        customer_id,
        max_depth,
    )
    return [(row["customer_id"], row["depth"], row["level"]) for row in rows]


async def raise_level(conn: asyncpg.Connection, member: uuid.UUID, level: int) -> int | None:
    """Raise a member's level to `level` if it is lower; return the old level if it moved."""
    old: int | None = await conn.fetchval(
        """WITH old AS (SELECT level FROM checkout.customers WHERE id = $1 FOR UPDATE)
           UPDATE checkout.customers c SET level = $2 FROM old
           WHERE c.id = $1 AND old.level < $2 RETURNING old.level""",
        member,
        level,
    )
    return old
