"""Reads of the checkout read models. Every function runs on a connection the caller owns.

Writes are not here: every read-model change is a projection of an event
(services/checkout_api/projections.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from services.checkout_api.domain import Line
from services.checkout_api.typedefs import SCHEMA
from shared.storage import ledger

CUSTOMER_COLUMNS = "id, name, referrer_id, level, tier"


async def customer(conn: asyncpg.Connection, customer_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {CUSTOMER_COLUMNS} FROM {SCHEMA}.customers WHERE id = $1", customer_id
    )


async def lock_customer(conn: asyncpg.Connection, customer_id: uuid.UUID) -> asyncpg.Record | None:
    """The customer with a row lock that serializes changes of its wallet and cart.

    FOR NO KEY UPDATE: rows that merely reference the customer (cart lines, transactions)
    can still be written by others while it is held.
    """
    return await conn.fetchrow(
        f"SELECT {CUSTOMER_COLUMNS} FROM {SCHEMA}.customers WHERE id = $1 FOR NO KEY UPDATE",
        customer_id,
    )


async def products(conn: asyncpg.Connection, limit: int, offset: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT id, name, price FROM {SCHEMA}.products ORDER BY name, id LIMIT $1 OFFSET $2",
        limit,
        offset,
    )
    return rows


async def product_exists(conn: asyncpg.Connection, product_id: uuid.UUID) -> bool:
    return bool(
        await conn.fetchval(f"SELECT true FROM {SCHEMA}.products WHERE id = $1", product_id)
    )


async def cart_quantity(
    conn: asyncpg.Connection, customer_id: uuid.UUID, product_id: uuid.UUID
) -> int:
    """Units of a product in a cart (0 when it has no such line)."""
    value = await conn.fetchval(
        f"""SELECT quantity FROM {SCHEMA}.cart_items
            WHERE customer_id = $1 AND product_id = $2""",
        customer_id,
        product_id,
    )
    return int(value or 0)


async def cart_lines(conn: asyncpg.Connection, customer_id: uuid.UUID) -> list[Line]:
    """The cart priced from the catalogue."""
    rows = await conn.fetch(
        f"""SELECT ci.product_id, p.name, p.price, ci.quantity
            FROM {SCHEMA}.cart_items ci JOIN {SCHEMA}.products p ON p.id = ci.product_id
            WHERE ci.customer_id = $1 ORDER BY ci.product_id""",
        customer_id,
    )
    return [Line(r["product_id"], r["name"], r["price"], r["quantity"]) for r in rows]


async def price_items(
    conn: asyncpg.Connection, quantities: dict[uuid.UUID, int]
) -> tuple[list[Line], list[uuid.UUID]]:
    """Lines for the given products priced from the catalogue, and the ids not in it."""
    rows = await conn.fetch(
        f"SELECT id, name, price FROM {SCHEMA}.products WHERE id = ANY($1::uuid[]) ORDER BY id",
        list(quantities),
    )
    lines = [Line(r["id"], r["name"], r["price"], quantities[r["id"]]) for r in rows]
    found = {r["id"] for r in rows}
    return lines, [p for p in quantities if p not in found]


async def wallet_balance(conn: asyncpg.Connection, customer_id: uuid.UUID) -> int:
    return await ledger.balance(conn, SCHEMA, ledger.WALLET, str(customer_id))


async def paid_transaction(
    conn: asyncpg.Connection, transaction_id: uuid.UUID
) -> asyncpg.Record | None:
    """A transaction's buyer, total and what its refunds paid back."""
    return await conn.fetchrow(
        f"SELECT id, customer_id, total, refunded FROM {SCHEMA}.transactions WHERE id = $1",
        transaction_id,
    )


async def transaction(
    conn: asyncpg.Connection, transaction_id: uuid.UUID
) -> tuple[asyncpg.Record, list[Line]] | None:
    row = await conn.fetchrow(
        f"""SELECT id, customer_id, total, balance_after, rewards_status, rewards_done_at,
                   refunded, created_at
            FROM {SCHEMA}.transactions WHERE id = $1""",
        transaction_id,
    )
    if row is None:
        return None
    items = await conn.fetch(
        f"""SELECT product_id, name, unit_price, quantity FROM {SCHEMA}.transaction_items
            WHERE transaction_id = $1 ORDER BY product_id""",
        transaction_id,
    )
    return row, [Line(i["product_id"], i["name"], i["unit_price"], i["quantity"]) for i in items]


async def customer_transactions(
    conn: asyncpg.Connection,
    customer_id: uuid.UUID,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """A customer's transactions newest first, after the keyset position `before`."""
    at, ident = before or (None, None)
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT t.id, t.total, t.balance_after, t.rewards_status, t.refunded, t.created_at,
                   (SELECT count(*) FROM {SCHEMA}.refunds r
                    WHERE r.transaction_id = t.id AND r.reversal_status = 'pending')
                       AS reversals_pending
            FROM {SCHEMA}.transactions t
            WHERE t.customer_id = $1
              AND ($2::timestamptz IS NULL OR (t.created_at, t.id) < ($2, $3::uuid))
            ORDER BY t.created_at DESC, t.id DESC
            LIMIT $4""",
        customer_id,
        at,
        ident,
        limit,
    )
    return rows


async def start_reward_handoff(conn: asyncpg.Connection, transaction_id: uuid.UUID) -> None:
    """Start the reconciler's clock of a transaction's reward job (not a read model)."""
    await conn.execute(
        f"INSERT INTO {SCHEMA}.reward_handoffs (transaction_id) VALUES ($1)", transaction_id
    )
