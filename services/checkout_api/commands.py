"""The checkout context's state changes, each run inside one database transaction.

Every change of a balance is a ledger posting and an event in the same transaction; a
checkout also records the transaction, clears the cart and writes the reward job to the
outbox, so either all of it happens or none of it does.
"""

from __future__ import annotations

import uuid

import asyncpg

from services.checkout_api import domain, storage
from services.checkout_api.domain import Line
from services.checkout_api.models import CartItemIn
from services.checkout_api.storage import SCHEMA, SERVICE
from shared.errors import NotFound, Problem
from shared.events.checkout import (
    REWARD_JOBS,
    CheckoutCompleted,
    CustomerRegistered,
    LineItem,
    ProductAdded,
    WalletDebited,
    WalletToppedUp,
)
from shared.events.envelope import Envelope, Payload, make_envelope
from shared.messaging import outbox
from shared.storage import eventstore, ledger


def wallet_stream(customer_id: uuid.UUID) -> str:
    return f"wallet-{customer_id}"


async def require_customer(conn: asyncpg.Connection, customer_id: uuid.UUID) -> asyncpg.Record:
    row = await storage.customer(conn, customer_id)
    if row is None:
        raise NotFound("customer", customer_id)
    return row


async def register_customer(
    conn: asyncpg.Connection,
    name: str,
    referrer_id: uuid.UUID | None,
    tier: int,
    actor: str,
    *,
    customer_id: uuid.UUID | None = None,
) -> uuid.UUID:
    if referrer_id is not None and await storage.customer(conn, referrer_id) is None:
        raise Problem(422, f"referrer {referrer_id} does not exist", title="Unknown referrer")
    customer_id = customer_id or uuid.uuid4()
    await storage.insert_customer(conn, customer_id, name, referrer_id, tier)
    payload = CustomerRegistered(
        customer_id=customer_id, name=name, referrer_id=referrer_id, tier=tier
    )
    await _open_stream(conn, "customer", customer_id, payload, "CUSTOMER_REGISTERED", actor)
    return customer_id


async def add_product(
    conn: asyncpg.Connection,
    name: str,
    price: int,
    actor: str,
    *,
    product_id: uuid.UUID | None = None,
) -> uuid.UUID:
    product_id = product_id or uuid.uuid4()
    await storage.insert_product(conn, product_id, name, price)
    payload = ProductAdded(product_id=product_id, name=name, price=price)
    await _open_stream(conn, "product", product_id, payload, "PRODUCT_ADDED", actor)
    return product_id


async def _open_stream(
    conn: asyncpg.Connection,
    kind: str,
    ident: uuid.UUID,
    payload: Payload,
    type_: str,
    actor: str,
) -> None:
    """Start the stream `<kind>-<id>` with its first event (a second start is a conflict)."""
    event = make_envelope(payload, type_=type_, source=SERVICE, subject=str(ident))
    await eventstore.append(conn, SCHEMA, f"{kind}-{ident}", 0, [event], actor=actor)


async def add_to_cart(
    conn: asyncpg.Connection, customer_id: uuid.UUID, product_id: uuid.UUID, quantity: int
) -> None:
    await require_customer(conn, customer_id)
    if not await storage.product_exists(conn, product_id):
        raise domain.UnknownProducts([product_id])
    added = await storage.add_to_cart(conn, customer_id, product_id, quantity, domain.MAX_QUANTITY)
    if added is None:
        raise Problem(
            422,
            f"a cart holds at most {domain.MAX_QUANTITY} of one product",
            title="Quantity too large",
        )


async def top_up(
    conn: asyncpg.Connection, customer_id: uuid.UUID, amount: int, actor: str
) -> tuple[uuid.UUID, int]:
    """Credit the wallet; return the top-up id and the new balance."""
    await require_customer(conn, customer_id)
    top_up_id = uuid.uuid4()
    # The posting locks the wallet's account row, so the stream version read after it is
    # the latest: concurrent postings to one wallet queue up instead of conflicting.
    balance = await ledger.post(
        conn,
        SCHEMA,
        ledger.WALLET,
        str(customer_id),
        amount,
        kind="top_up",
        reference=str(top_up_id),
        details={"top_up_id": str(top_up_id), "by": actor},
    )
    assert balance is not None  # a fresh reference is never a duplicate
    event = make_envelope(
        WalletToppedUp(
            customer_id=customer_id, top_up_id=top_up_id, amount=amount, balance=balance
        ),
        type_="WALLET_TOPPED_UP",
        source=SERVICE,
        subject=str(customer_id),
    )
    await _append_wallet_event(conn, customer_id, event, actor)
    return top_up_id, balance


async def checkout(
    conn: asyncpg.Connection, customer_id: uuid.UUID, items: list[CartItemIn] | None
) -> tuple[uuid.UUID, int, int]:
    """Pay the cart (or `items`, leaving the cart alone); return id, total and balance."""
    customer = await require_customer(conn, customer_id)
    lines = await _lines(conn, customer_id, items)
    total = domain.total(lines)
    transaction_id = uuid.uuid4()
    balance = await ledger.post(
        conn,
        SCHEMA,
        ledger.WALLET,
        str(customer_id),
        -total,
        kind="checkout_debit",
        reference=str(transaction_id),
        details={"transaction_id": str(transaction_id)},
    )
    assert balance is not None
    await storage.insert_transaction(conn, transaction_id, customer_id, total, balance, lines)
    if items is None:
        await storage.clear_cart(conn, customer_id)
    debited = make_envelope(
        WalletDebited(
            customer_id=customer_id,
            transaction_id=transaction_id,
            amount=total,
            balance=balance,
            items=[LineItem(**vars(line)) for line in lines],
        ),
        type_="WALLET_DEBITED",
        source=SERVICE,
        subject=str(customer_id),
    )
    await _append_wallet_event(conn, customer_id, debited, str(customer_id))
    job = reward_job(transaction_id, customer_id, total, customer["tier"], str(debited.id))
    await eventstore.append(
        conn, SCHEMA, f"transaction-{transaction_id}", 0, [job], actor=str(customer_id)
    )
    await enqueue_reward_job(conn, job, customer["tier"])
    return transaction_id, total, balance


def reward_job(
    transaction_id: uuid.UUID,
    customer_id: uuid.UUID,
    total: int,
    tier: int,
    causationid: str | None = None,
) -> Envelope:
    return make_envelope(
        CheckoutCompleted(
            transaction_id=transaction_id, customer_id=str(customer_id), total=total, tier=tier
        ),
        type_="CHECKOUT_COMPLETED",
        source=SERVICE,
        subject=str(transaction_id),
        causationid=causationid,
    )


async def enqueue_reward_job(conn: asyncpg.Connection, job: Envelope, tier: int) -> None:
    """Write the reward job to the outbox; its job id (the transaction) de-duplicates it."""
    await outbox.add(
        conn,
        SCHEMA,
        REWARD_JOBS,
        job,
        attributes={"jobId": job.subject, "priority": str(tier)},
    )


async def _lines(
    conn: asyncpg.Connection, customer_id: uuid.UUID, items: list[CartItemIn] | None
) -> list[Line]:
    if items is None:
        return await storage.cart_lines(conn, customer_id, lock=True)
    quantities: dict[uuid.UUID, int] = {}
    for item in items:
        quantities[item.product_id] = quantities.get(item.product_id, 0) + item.quantity
    if any(q > domain.MAX_QUANTITY for q in quantities.values()):
        raise Problem(422, f"at most {domain.MAX_QUANTITY} of one product", title="Too many")
    lines, missing = await storage.price_items(conn, quantities)
    if missing:
        raise domain.UnknownProducts(missing)
    return lines


async def _append_wallet_event(
    conn: asyncpg.Connection, customer_id: uuid.UUID, event: Envelope, actor: str
) -> None:
    stream = wallet_stream(customer_id)
    version = await eventstore.stream_version(conn, SCHEMA, stream)
    await eventstore.append(conn, SCHEMA, stream, version, [event], actor=actor)
