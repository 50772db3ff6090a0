"""SQL of the checkout context. Every function runs on a connection the caller owns."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from services.checkout_api.domain import Line

SCHEMA = "checkout"
SERVICE = "checkout_api"


def as_uuid(value: str) -> uuid.UUID | None:
    """A token subject as a customer id (None when it cannot be one)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def customer(conn: asyncpg.Connection, customer_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, name, referrer_id, level, tier FROM checkout.customers WHERE id = $1",
        customer_id,
    )


async def insert_customer(
    conn: asyncpg.Connection,
    customer_id: uuid.UUID,
    name: str,
    referrer_id: uuid.UUID | None,
    tier: int,
) -> None:
    """Insert a customer; the database derives its upline from the referrer."""
    await conn.execute(
        """INSERT INTO checkout.customers (id, name, referrer_id, tier)
           VALUES ($1, $2, $3, $4)""",
        customer_id,
        name,
        referrer_id,
        tier,
    )


async def insert_product(
    conn: asyncpg.Connection, product_id: uuid.UUID, name: str, price: int
) -> None:
    await conn.execute(
        "INSERT INTO checkout.products (id, name, price) VALUES ($1, $2, $3)",
        product_id,
        name,
        price,
    )


async def products(conn: asyncpg.Connection, limit: int, offset: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, name, price FROM checkout.products ORDER BY name, id LIMIT $1 OFFSET $2",
        limit,
        offset,
    )


async def product_exists(conn: asyncpg.Connection, product_id: uuid.UUID) -> bool:
    return bool(await conn.fetchval("SELECT true FROM checkout.products WHERE id = $1", product_id))


async def add_to_cart(
    conn: asyncpg.Connection,
    customer_id: uuid.UUID,
    product_id: uuid.UUID,
    quantity: int,
    max_quantity: int,
) -> int | None:
    """Add units to a cart line in one statement; None if the line would exceed the limit."""
    value = await conn.fetchval(
        """INSERT INTO checkout.cart_items AS c (customer_id, product_id, quantity)
           VALUES ($1, $2, $3)
           ON CONFLICT (customer_id, product_id) DO UPDATE
               SET quantity = c.quantity + EXCLUDED.quantity
               WHERE c.quantity + EXCLUDED.quantity <= $4
           RETURNING quantity""",
        customer_id,
        product_id,
        quantity,
        max_quantity,
    )
    return None if value is None else int(value)


async def remove_cart_item(
    conn: asyncpg.Connection, customer_id: uuid.UUID, product_id: uuid.UUID
) -> bool:
    result = await conn.execute(
        "DELETE FROM checkout.cart_items WHERE customer_id = $1 AND product_id = $2",
        customer_id,
        product_id,
    )
    return result != "DELETE 0"


async def cart_lines(
    conn: asyncpg.Connection, customer_id: uuid.UUID, *, lock: bool = False
) -> list[Line]:
    """The cart priced from the catalogue; `lock` holds its lines until the transaction ends."""
    rows = await conn.fetch(
        f"""SELECT ci.product_id, p.name, p.price, ci.quantity
            FROM checkout.cart_items ci JOIN checkout.products p ON p.id = ci.product_id
            WHERE ci.customer_id = $1 ORDER BY ci.product_id
            {"FOR UPDATE OF ci" if lock else ""}""",
        customer_id,
    )
    return [Line(r["product_id"], r["name"], r["price"], r["quantity"]) for r in rows]


async def price_items(
    conn: asyncpg.Connection, quantities: dict[uuid.UUID, int]
) -> tuple[list[Line], list[uuid.UUID]]:
    """Lines for the given products priced from the catalogue, and the ids not in it."""
    rows = await conn.fetch(
        "SELECT id, name, price FROM checkout.products WHERE id = ANY($1::uuid[]) ORDER BY id",
        list(quantities),
    )
    lines = [Line(r["id"], r["name"], r["price"], quantities[r["id"]]) for r in rows]
    found = {r["id"] for r in rows}
    return lines, [p for p in quantities if p not in found]


async def clear_cart(conn: asyncpg.Connection, customer_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM checkout.cart_items WHERE customer_id = $1", customer_id)


async def insert_transaction(
    conn: asyncpg.Connection,
    transaction_id: uuid.UUID,
    customer_id: uuid.UUID,
    total: int,
    balance_after: int,
    lines: list[Line],
) -> None:
    await conn.execute(
        """INSERT INTO checkout.transactions (id, customer_id, total, balance_after)
           VALUES ($1, $2, $3, $4)""",
        transaction_id,
        customer_id,
        total,
        balance_after,
    )
    await conn.executemany(
        """INSERT INTO checkout.transaction_items
               (transaction_id, product_id, name, unit_price, quantity)
           VALUES ($1, $2, $3, $4, $5)""",
        [(transaction_id, ln.product_id, ln.name, ln.unit_price, ln.quantity) for ln in lines],
    )


async def transaction(
    conn: asyncpg.Connection, transaction_id: uuid.UUID
) -> tuple[asyncpg.Record, list[Line]] | None:
    row = await conn.fetchrow(
        """SELECT id, customer_id, total, balance_after, rewards_status, rewards_done_at,
                  created_at
           FROM checkout.transactions WHERE id = $1""",
        transaction_id,
    )
    if row is None:
        return None
    items = await conn.fetch(
        """SELECT product_id, name, unit_price, quantity FROM checkout.transaction_items
           WHERE transaction_id = $1 ORDER BY product_id""",
        transaction_id,
    )
    return row, [Line(i["product_id"], i["name"], i["unit_price"], i["quantity"]) for i in items]


def line_dict(line: Line) -> dict[str, Any]:
    return {
        "product_id": line.product_id,
        "name": line.name,
        "unit_price": line.unit_price,
        "quantity": line.quantity,
        "amount": line.amount,
    }
