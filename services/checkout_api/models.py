"""Request and response bodies (they validate input and generate the OpenAPI document), and
the mapping of read-model rows onto them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.checkout_api.domain import (
    MAX_LINES,
    MAX_PRICE,
    MAX_QUANTITY,
    MAX_TIER,
    MAX_TOP_UP,
    Line,
)
from shared.storage import ledger

# Money and quantities must be JSON integers: 10.5, "10" and true are refused, never rounded.
Cents = Annotated[int, Field(strict=True, gt=0)]
Quantity = Annotated[int, Field(strict=True, ge=1, le=MAX_QUANTITY)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewProduct(Body):
    name: Name
    price: Annotated[Cents, Field(le=MAX_PRICE)]


class Product(BaseModel):
    id: uuid.UUID
    name: str
    price: int


class ProductPage(BaseModel):
    items: list[Product]
    next_offset: int | None


class PageQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class CartItemIn(Body):
    product_id: uuid.UUID
    quantity: Quantity = 1


class CartLine(BaseModel):
    product_id: uuid.UUID
    name: str
    unit_price: int
    quantity: int
    amount: int


class Cart(BaseModel):
    customer_id: uuid.UUID
    items: list[CartLine]
    total: int


class CheckoutIn(Body):
    """Optional: buy these items now instead of the cart (the cart is then left as it is)."""

    items: Annotated[list[CartItemIn], Field(min_length=1, max_length=MAX_LINES)] | None = None


class CheckoutOut(BaseModel):
    transaction_id: uuid.UUID
    total: int
    balance: int
    rewards: Literal["pending", "done"]


class TopUpIn(Body):
    customer_id: uuid.UUID
    amount: Annotated[Cents, Field(le=MAX_TOP_UP)]


class TopUpOut(BaseModel):
    top_up_id: uuid.UUID
    customer_id: uuid.UUID
    amount: int
    balance: int


class EntriesQuery(BaseModel):
    limit: int = Field(default=20, ge=1, le=200)
    cursor: str | None = Field(
        default=None, max_length=200, description="the previous page's `next_cursor`"
    )
    before: int | None = Field(
        default=None,
        ge=1,
        le=2**63 - 1,
        description="deprecated, goes away after this release: the previous page's "
        "`next_before`; `cursor` replaces it",
        json_schema_extra={"deprecated": True},
    )


class WalletQuery(EntriesQuery):
    customer_id: uuid.UUID | None = None  # admins may read any wallet


class LedgerAccount(BaseModel):
    type: str
    owner_id: str


class LedgerEntry(BaseModel):
    """One side of a transfer: `amount` is what it moved on this account (negative when
    money left it), `counter_account` where it came from or went to."""

    id: int  # the transfer's id
    amount: int
    kind: str
    reference: str
    counter_account: LedgerAccount
    details: dict[str, object]
    created_at: datetime


class Wallet(BaseModel):
    customer_id: uuid.UUID
    balance: int
    entries: list[LedgerEntry]
    next_cursor: str | None
    next_before: int | None = Field(
        description="deprecated, with `before`", json_schema_extra={"deprecated": True}
    )


class TransactionOut(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    total: int
    balance_after: int
    items: list[CartLine]
    rewards: Literal["pending", "done"]
    rewards_done_at: datetime | None
    refunded: int
    created_at: datetime


class TransactionQuery(BaseModel):
    limit: int = Field(default=20, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=200)
    customer_id: uuid.UUID | None = None  # admins may read anyone's


class TransactionSummary(BaseModel):
    id: uuid.UUID
    total: int
    balance_after: int
    rewards: Literal["pending", "done"]
    refunded: int
    refund: Literal["none", "partial", "full"]
    reversals_pending: int  # refunds whose tree points are still to be taken back
    created_at: datetime


class TransactionPage(BaseModel):
    items: list[TransactionSummary]
    next_cursor: str | None


class RefundIn(Body):
    amount: Cents | None = None  # all that is left to refund when absent
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class RefundOut(BaseModel):
    refund_id: uuid.UUID
    transaction_id: uuid.UUID
    amount: int
    refunded: int  # by every refund of the transaction so far
    balance: int
    reversal: Literal["pending", "done"]


class NewCustomer(Body):
    name: Name
    referrer_id: uuid.UUID | None = None
    tier: Annotated[int, Field(strict=True, ge=0, le=MAX_TIER)] = 0


class Customer(BaseModel):
    id: uuid.UUID
    name: str
    referrer_id: uuid.UUID | None
    level: int
    tier: int


class Rewards(BaseModel):
    customer_id: uuid.UUID
    points: int
    level: int
    entries: list[LedgerEntry]
    next_cursor: str | None
    next_before: int | None = Field(
        description="deprecated, with `before`", json_schema_extra={"deprecated": True}
    )


# Rows onto bodies.


def cart_line(line: Line) -> CartLine:
    return CartLine(
        product_id=line.product_id,
        name=line.name,
        unit_price=line.unit_price,
        quantity=line.quantity,
        amount=line.amount,
    )


def cart(customer_id: uuid.UUID, lines: list[Line]) -> Cart:
    items = [cart_line(line) for line in lines]
    return Cart(customer_id=customer_id, items=items, total=sum(i.amount for i in items))


def product(row: asyncpg.Record) -> Product:
    return Product(id=row["id"], name=row["name"], price=row["price"])


def customer(row: asyncpg.Record) -> Customer:
    return Customer(
        id=row["id"],
        name=row["name"],
        referrer_id=row["referrer_id"],
        level=row["level"],
        tier=row["tier"],
    )


def transaction(row: asyncpg.Record, lines: list[Line]) -> TransactionOut:
    return TransactionOut(
        id=row["id"],
        customer_id=row["customer_id"],
        total=row["total"],
        balance_after=row["balance_after"],
        items=[cart_line(line) for line in lines],
        rewards=row["rewards_status"],
        rewards_done_at=row["rewards_done_at"],
        refunded=row["refunded"],
        created_at=row["created_at"],
    )


def transaction_summary(row: asyncpg.Record) -> TransactionSummary:
    refunded, total = row["refunded"], row["total"]
    return TransactionSummary(
        id=row["id"],
        total=total,
        balance_after=row["balance_after"],
        rewards=row["rewards_status"],
        refunded=refunded,
        refund="none" if refunded == 0 else "full" if refunded == total else "partial",
        reversals_pending=row["reversals_pending"],
        created_at=row["created_at"],
    )


def entry(e: ledger.Entry) -> LedgerEntry:
    return LedgerEntry(
        id=e.transfer_id,
        amount=e.amount,
        kind=e.kind,
        reference=e.reference,
        counter_account=LedgerAccount(type=e.counter.type, owner_id=e.counter.owner),
        details=e.details,
        created_at=e.created_at,
    )
