"""Read models of the checkout context, folded from its events.

Catalogue, customers, carts, wallets (ledger transfers and balances) and transactions. Every
column comes from an event (times are event times, ledger transfer ids travel in the event),
so a replay reproduces the live rows exactly. Commands decide; projectors only write what
an event says, in the transaction that appends it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from services.checkout_api.typedefs import SCHEMA
from shared.events.checkout import (
    CartCleared,
    CartItemAdded,
    CartItemRemoved,
    CustomerRegistered,
    ProductAdded,
    RefundIssued,
    WalletDebited,
    WalletToppedUp,
)
from shared.events.envelope import Envelope
from shared.storage import ledger
from shared.storage.projections import Projector


class ProductsProjector:
    name = "products"

    async def reset(self, conn: asyncpg.Connection) -> None:
        await conn.execute(f"DELETE FROM {SCHEMA}.products")

    async def apply(self, conn: asyncpg.Connection, event: Envelope, version: int) -> None:
        if event.type != "PRODUCT_ADDED":
            return
        added = ProductAdded.model_validate(event.data)
        await conn.execute(
            f"INSERT INTO {SCHEMA}.products (id, name, price, created_at) VALUES ($1, $2, $3, $4)",
            added.product_id,
            added.name,
            added.price,
            event.time,
        )


class CustomersProjector:
    """Customers as registered; their level is the reward worker's projection."""

    name = "customers"

    async def reset(self, conn: asyncpg.Connection) -> None:
        await conn.execute(f"DELETE FROM {SCHEMA}.customers")

    async def apply(self, conn: asyncpg.Connection, event: Envelope, version: int) -> None:
        if event.type != "CUSTOMER_REGISTERED":
            return
        registered = CustomerRegistered.model_validate(event.data)
        await conn.execute(
            f"""INSERT INTO {SCHEMA}.customers (id, name, referrer_id, tier, created_at)
                VALUES ($1, $2, $3, $4, $5)""",
            registered.customer_id,
            registered.name,
            registered.referrer_id,
            registered.tier,
            event.time,
        )


class CartsProjector:
    name = "carts"

    async def reset(self, conn: asyncpg.Connection) -> None:
        await conn.execute(f"DELETE FROM {SCHEMA}.cart_items")

    async def apply(self, conn: asyncpg.Connection, event: Envelope, version: int) -> None:
        if event.type == "CART_ITEM_ADDED":
            added = CartItemAdded.model_validate(event.data)
            await conn.execute(
                f"""INSERT INTO {SCHEMA}.cart_items AS c
                        (customer_id, product_id, quantity, added_at)
                    VALUES ($1, $2, $3, $4)
                    ON CONFLICT (customer_id, product_id) DO UPDATE
                        SET quantity = c.quantity + EXCLUDED.quantity""",
                added.customer_id,
                added.product_id,
                added.quantity,
                event.time,
            )
        elif event.type == "CART_ITEM_REMOVED":
            removed = CartItemRemoved.model_validate(event.data)
            await _delete_lines(conn, removed.customer_id, [removed.product_id])
        elif event.type == "CART_CLEARED":
            cleared = CartCleared.model_validate(event.data)
            await _delete_lines(conn, cleared.customer_id, cleared.product_ids)


async def _delete_lines(
    conn: asyncpg.Connection, customer_id: uuid.UUID, product_ids: list[uuid.UUID]
) -> None:
    await conn.execute(
        f"""DELETE FROM {SCHEMA}.cart_items
            WHERE customer_id = $1 AND product_id = ANY($2::uuid[])""",
        customer_id,
        product_ids,
    )


class WalletsProjector:
    """Wallet balances and their transfers: top-ups from the mall's top-up source, checkouts
    to the shop's revenue, refunds back from it."""

    name = "wallets"
    kinds = ("top_up", "checkout_debit", "refund")

    async def reset(self, conn: asyncpg.Connection) -> None:
        await ledger.reset_kinds(conn, SCHEMA, self.kinds)

    async def apply(self, conn: asyncpg.Connection, event: Envelope, version: int) -> None:
        transfer = wallet_transfer(event)
        if transfer is not None:
            # No savepoint: a refused debit fails the whole `record` (and its unit of work).
            await ledger.post(conn, SCHEMA, [transfer], at=event.time, savepoint=False)


def wallet_transfer(event: Envelope) -> ledger.Transfer | None:
    """The transfer a wallet event made (under the id it carries), or None."""
    if event.type == "WALLET_TOPPED_UP":
        topped = WalletToppedUp.model_validate(event.data)
        return ledger.Transfer(
            topped.entry_id,
            "top_up",
            str(topped.top_up_id),
            debit=ledger.TOP_UPS,
            credit=ledger.wallet(topped.customer_id),
            amount=topped.amount,
            details={"top_up_id": str(topped.top_up_id), "by": topped.topped_up_by},
        )
    if event.type == "WALLET_DEBITED":
        debited = WalletDebited.model_validate(event.data)
        return ledger.Transfer(
            debited.entry_id,
            "checkout_debit",
            str(debited.transaction_id),
            debit=ledger.wallet(debited.customer_id),
            credit=ledger.SHOP,
            amount=debited.amount,
            details={"transaction_id": str(debited.transaction_id)},
        )
    if event.type == "REFUND_ISSUED":
        refund = RefundIssued.model_validate(event.data)
        return ledger.Transfer(
            refund.entry_id,
            "refund",
            str(refund.refund_id),
            debit=ledger.SHOP,
            credit=ledger.wallet(refund.customer_id),
            amount=refund.amount,
            details={
                "refund_id": str(refund.refund_id),
                "transaction_id": str(refund.transaction_id),
            },
        )
    return None


class TransactionsProjector:
    """Paid checkouts and what they bought; rewards start pending (the worker's projection
    marks them done)."""

    name = "transactions"

    async def reset(self, conn: asyncpg.Connection) -> None:
        await conn.execute(f"DELETE FROM {SCHEMA}.transaction_items")
        await conn.execute(f"DELETE FROM {SCHEMA}.transactions")

    async def apply(self, conn: asyncpg.Connection, event: Envelope, version: int) -> None:
        if event.type != "WALLET_DEBITED":
            return
        debited = WalletDebited.model_validate(event.data)
        await _insert_transaction(conn, debited, event.time)


async def _insert_transaction(
    conn: asyncpg.Connection, debited: WalletDebited, at: datetime
) -> None:
    """The transaction and its items, in one statement."""
    items = debited.items
    await conn.execute(
        f"""WITH t AS (
                INSERT INTO {SCHEMA}.transactions
                    (id, customer_id, total, balance_after, created_at)
                VALUES ($1, $2, $3, $4, $5))
            INSERT INTO {SCHEMA}.transaction_items
                (transaction_id, product_id, name, unit_price, quantity)
            SELECT $1, i.product_id, i.name, i.unit_price, i.quantity
            FROM unnest($6::uuid[], $7::text[], $8::bigint[], $9::int[])
                 AS i(product_id, name, unit_price, quantity)""",
        debited.transaction_id,
        debited.customer_id,
        debited.amount,
        debited.balance,
        at,
        [i.product_id for i in items],
        [i.name for i in items],
        [i.unit_price for i in items],
        [i.quantity for i in items],
    )


class RefundsProjector:
    """Refunds, and what each transaction has paid back in all."""

    name = "refunds"

    async def reset(self, conn: asyncpg.Connection) -> None:
        await conn.execute(f"DELETE FROM {SCHEMA}.refunds")

    async def apply(self, conn: asyncpg.Connection, event: Envelope, version: int) -> None:
        if event.type != "REFUND_ISSUED":
            return
        refund = RefundIssued.model_validate(event.data)
        await conn.execute(
            f"""INSERT INTO {SCHEMA}.refunds (id, transaction_id, customer_id, amount,
                    refunded_before, reason, created_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            refund.refund_id,
            refund.transaction_id,
            refund.customer_id,
            refund.amount,
            refund.refunded_before,
            refund.reason,
            event.time,
        )
        await conn.execute(
            f"UPDATE {SCHEMA}.transactions SET refunded = refunded + $2 WHERE id = $1",
            refund.transaction_id,
            refund.amount,
        )


# In dependency order: carts and transactions reference customers and products.
PROJECTORS: tuple[Projector, ...] = (
    ProductsProjector(),
    CustomersProjector(),
    CartsProjector(),
    WalletsProjector(),
    TransactionsProjector(),
    RefundsProjector(),
)
