"""The checkout context's state changes, each run inside one database transaction.

A command decides, then records its events: they are appended to the event store and
projected into the read models in the caller's transaction (projections.py). A checkout
debits the wallet, records the transaction, takes the paid lines out of the cart and
writes the reward job to the outbox, so either all of it happens or none of it does.

Changes of one customer's wallet and cart queue on the customer's row lock, so a decision
(is the balance enough, is the line below the limit) holds until its events are recorded.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from services.checkout_api import domain, storage
from services.checkout_api.domain import Line
from services.checkout_api.projections import PROJECTORS
from services.checkout_api.typedefs import SCHEMA, SOURCE
from shared.errors import NotFound, Problem
from shared.events.checkout import (
    CartCleared,
    CartItemAdded,
    CartItemRemoved,
    CheckoutCompleted,
    CustomerRegistered,
    LineItem,
    ProductAdded,
    WalletDebited,
    WalletToppedUp,
)
from shared.events.envelope import Envelope, Payload, Trace, make_envelope
from shared.messaging import outbox
from shared.messaging.destinations import REWARD_JOBS
from shared.storage import ledger
from shared.storage.ledger_projection import next_entry_ids
from shared.storage.projections import record, record_next

# (product id, quantity) pairs of a checkout of given items.
Items = Sequence[tuple[uuid.UUID, int]]


def wallet_stream(customer_id: uuid.UUID) -> str:
    return f"wallet-{customer_id}"


def cart_stream(customer_id: uuid.UUID) -> str:
    return f"cart-{customer_id}"


def _envelope(payload: Payload, subject: uuid.UUID, trace: Trace) -> Envelope:
    return make_envelope(payload, source=SOURCE, subject=str(subject), trace=trace)


async def require_customer(conn: asyncpg.Connection, customer_id: uuid.UUID) -> asyncpg.Record:
    row = await storage.customer(conn, customer_id)
    if row is None:
        raise NotFound("customer", customer_id)
    return row


async def _lock_customer(conn: asyncpg.Connection, customer_id: uuid.UUID) -> asyncpg.Record:
    row = await storage.lock_customer(conn, customer_id)
    if row is None:
        raise NotFound("customer", customer_id)
    return row


async def register_customer(
    conn: asyncpg.Connection,
    name: str,
    referrer_id: uuid.UUID | None,
    tier: int,
    actor: str,
    trace: Trace,
    *,
    customer_id: uuid.UUID | None = None,
) -> uuid.UUID:
    if referrer_id is not None and await storage.customer(conn, referrer_id) is None:
        raise Problem(422, f"referrer {referrer_id} does not exist", title="Unknown referrer")
    customer_id = customer_id or uuid.uuid4()
    payload = CustomerRegistered(
        customer_id=customer_id, name=name, referrer_id=referrer_id, tier=tier
    )
    await _open_stream(conn, "customer", customer_id, payload, actor, trace)
    return customer_id


async def add_product(
    conn: asyncpg.Connection,
    name: str,
    price: int,
    actor: str,
    trace: Trace,
    *,
    product_id: uuid.UUID | None = None,
) -> uuid.UUID:
    product_id = product_id or uuid.uuid4()
    payload = ProductAdded(product_id=product_id, name=name, price=price)
    await _open_stream(conn, "product", product_id, payload, actor, trace)
    return product_id


async def _open_stream(
    conn: asyncpg.Connection,
    kind: str,
    ident: uuid.UUID,
    payload: Payload,
    actor: str,
    trace: Trace,
) -> None:
    """Start the stream `<kind>-<id>` with its first event (a second start is a conflict)."""
    event = _envelope(payload, ident, trace)
    await record(conn, SCHEMA, f"{kind}-{ident}", 0, [event], PROJECTORS, actor=actor)


async def add_to_cart(
    conn: asyncpg.Connection,
    customer_id: uuid.UUID,
    product_id: uuid.UUID,
    quantity: int,
    trace: Trace,
) -> None:
    await _lock_customer(conn, customer_id)
    if not await storage.product_exists(conn, product_id):
        raise domain.UnknownProducts([product_id])
    held = await storage.cart_quantity(conn, customer_id, product_id)
    if held + quantity > domain.MAX_QUANTITY:
        raise Problem(
            422,
            f"a cart holds at most {domain.MAX_QUANTITY} of one product",
            title="Quantity too large",
        )
    added = CartItemAdded(customer_id=customer_id, product_id=product_id, quantity=quantity)
    await _record_cart(conn, customer_id, _envelope(added, customer_id, trace))


async def remove_from_cart(
    conn: asyncpg.Connection, customer_id: uuid.UUID, product_id: uuid.UUID, trace: Trace
) -> None:
    """Take a product's line out of the cart; 404 when the cart has none."""
    await _lock_customer(conn, customer_id)
    if not await storage.cart_quantity(conn, customer_id, product_id):
        raise NotFound("cart item", product_id)
    removed = CartItemRemoved(customer_id=customer_id, product_id=product_id)
    await _record_cart(conn, customer_id, _envelope(removed, customer_id, trace))


async def _record_cart(conn: asyncpg.Connection, customer_id: uuid.UUID, event: Envelope) -> None:
    await record_next(
        conn, SCHEMA, cart_stream(customer_id), [event], PROJECTORS, actor=str(customer_id)
    )


async def top_up(
    conn: asyncpg.Connection, customer_id: uuid.UUID, amount: int, actor: str, trace: Trace
) -> tuple[uuid.UUID, int]:
    """Credit the wallet; return the top-up id and the new balance."""
    await _lock_customer(conn, customer_id)
    balance = await storage.wallet_balance(conn, customer_id) + amount
    top_up_id = uuid.uuid4()
    (entry_id,) = await next_entry_ids(conn, SCHEMA, 1)
    payload = WalletToppedUp(
        customer_id=customer_id,
        top_up_id=top_up_id,
        amount=amount,
        balance=balance,
        topped_up_by=actor,
        entry_id=entry_id,
    )
    event = _envelope(payload, customer_id, trace)
    await record_next(conn, SCHEMA, wallet_stream(customer_id), [event], PROJECTORS, actor=actor)
    return top_up_id, balance


async def checkout(
    conn: asyncpg.Connection, customer_id: uuid.UUID, items: Items | None, trace: Trace
) -> tuple[uuid.UUID, int, int]:
    """Pay the cart (or `items`, leaving the cart alone); return id, total and balance."""
    customer = await _lock_customer(conn, customer_id)
    lines = await _lines(conn, customer_id, items)
    total = domain.total(lines)
    balance = await storage.wallet_balance(conn, customer_id) - total
    if balance < 0:
        raise ledger.InsufficientFunds(str(customer_id), total)
    transaction_id = uuid.uuid4()
    actor = str(customer_id)
    (entry_id,) = await next_entry_ids(conn, SCHEMA, 1)
    payload = WalletDebited(
        customer_id=customer_id,
        transaction_id=transaction_id,
        amount=total,
        balance=balance,
        items=[LineItem(**vars(line)) for line in lines],
        entry_id=entry_id,
    )
    debited = _envelope(payload, customer_id, trace)
    await record_next(conn, SCHEMA, wallet_stream(customer_id), [debited], PROJECTORS, actor=actor)
    if items is None:
        # Only the lines priced here leave the cart: a line added since stays, unpaid.
        cleared = CartCleared(
            customer_id=customer_id,
            transaction_id=transaction_id,
            product_ids=[line.product_id for line in lines],
        )
        await _record_cart(conn, customer_id, _envelope(cleared, customer_id, trace))
    caused = Trace(trace.correlation_id, trace.traceparent, str(debited.id))
    job = reward_job(transaction_id, customer_id, total, customer["tier"], caused)
    stream = f"transaction-{transaction_id}"
    await record(conn, SCHEMA, stream, 0, [job], PROJECTORS, actor=actor)
    await enqueue_reward_job(conn, job, customer["tier"])
    await storage.start_reward_handoff(conn, transaction_id)
    return transaction_id, total, balance


def reward_job(
    transaction_id: uuid.UUID,
    customer_id: uuid.UUID,
    total: int,
    tier: int,
    trace: Trace,
) -> Envelope:
    payload = CheckoutCompleted(
        transaction_id=transaction_id, customer_id=str(customer_id), total=total, tier=tier
    )
    return _envelope(payload, transaction_id, trace)


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
    conn: asyncpg.Connection, customer_id: uuid.UUID, items: Items | None
) -> list[Line]:
    if items is None:
        return await storage.cart_lines(conn, customer_id)
    quantities: dict[uuid.UUID, int] = {}
    for product_id, quantity in items:
        quantities[product_id] = quantities.get(product_id, 0) + quantity
    if any(q > domain.MAX_QUANTITY for q in quantities.values()):
        raise Problem(422, f"at most {domain.MAX_QUANTITY} of one product", title="Too many")
    lines, missing = await storage.price_items(conn, quantities)
    if missing:
        raise domain.UnknownProducts(missing)
    return lines
