"""The checkout context's state changes, each run in the caller's unit of work (uow.py).

A command decides, then records its events: they are appended to the event store and
projected into the read models in the same transaction (projections.py). A checkout
debits the wallet, records the transaction, takes the paid lines out of the cart and
writes the reward job to the outbox, so either all of it happens or none of it does.

Changes of one customer's wallet and cart queue on the customer's row lock, so a decision
(is the balance enough, is the line below the limit) holds until its events are recorded.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from services.checkout_api import domain
from services.checkout_api.domain import Line
from services.checkout_api.typedefs import SOURCE
from services.checkout_api.uow import CheckoutUnitOfWork, Customer
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
    customer_stream,
    transaction_stream,
)
from shared.events.envelope import Envelope, Payload, Trace, make_envelope
from shared.messaging.destinations import REWARD_JOBS
from shared.storage import ledger

# (product id, quantity) pairs of a checkout of given items.
Items = Sequence[tuple[uuid.UUID, int]]


def wallet_stream(customer_id: uuid.UUID) -> str:
    return f"wallet-{customer_id}"


def cart_stream(customer_id: uuid.UUID) -> str:
    return f"cart-{customer_id}"


def product_stream(product_id: uuid.UUID) -> str:
    return f"product-{product_id}"


def _envelope(payload: Payload, subject: uuid.UUID, trace: Trace) -> Envelope:
    return make_envelope(payload, source=SOURCE, subject=str(subject), trace=trace)


async def _lock_customer(uow: CheckoutUnitOfWork, customer_id: uuid.UUID) -> Customer:
    customer = await uow.lock_customer(customer_id)
    if customer is None:
        raise NotFound("customer", customer_id)
    return customer


async def register_customer(
    uow: CheckoutUnitOfWork,
    name: str,
    referrer_id: uuid.UUID | None,
    tier: int,
    actor: str,
    trace: Trace,
    *,
    customer_id: uuid.UUID | None = None,
) -> uuid.UUID:
    if referrer_id is not None and await uow.customer(referrer_id) is None:
        raise Problem(422, f"referrer {referrer_id} does not exist", title="Unknown referrer")
    customer_id = customer_id or uuid.uuid4()
    payload = CustomerRegistered(
        customer_id=customer_id, name=name, referrer_id=referrer_id, tier=tier
    )
    await _open_stream(uow, customer_stream(customer_id), customer_id, payload, actor, trace)
    return customer_id


async def add_product(
    uow: CheckoutUnitOfWork,
    name: str,
    price: int,
    actor: str,
    trace: Trace,
    *,
    product_id: uuid.UUID | None = None,
) -> uuid.UUID:
    product_id = product_id or uuid.uuid4()
    payload = ProductAdded(product_id=product_id, name=name, price=price)
    await _open_stream(uow, product_stream(product_id), product_id, payload, actor, trace)
    return product_id


async def _open_stream(
    uow: CheckoutUnitOfWork,
    stream: str,
    subject: uuid.UUID,
    payload: Payload,
    actor: str,
    trace: Trace,
) -> None:
    """Start the stream with its first event (a second start is a conflict)."""
    event = _envelope(payload, subject, trace)
    await uow.record(stream, 0, [event], actor)


async def add_to_cart(
    uow: CheckoutUnitOfWork,
    customer_id: uuid.UUID,
    product_id: uuid.UUID,
    quantity: int,
    trace: Trace,
) -> None:
    await _lock_customer(uow, customer_id)
    if not await uow.product_exists(product_id):
        raise domain.UnknownProducts([product_id])
    held = await uow.cart_quantity(customer_id, product_id)
    if held + quantity > domain.MAX_QUANTITY:
        raise Problem(
            422,
            f"a cart holds at most {domain.MAX_QUANTITY} of one product",
            title="Quantity too large",
        )
    added = CartItemAdded(customer_id=customer_id, product_id=product_id, quantity=quantity)
    await _record_cart(uow, customer_id, _envelope(added, customer_id, trace))


async def remove_from_cart(
    uow: CheckoutUnitOfWork, customer_id: uuid.UUID, product_id: uuid.UUID, trace: Trace
) -> None:
    """Take a product's line out of the cart; 404 when the cart has none."""
    await _lock_customer(uow, customer_id)
    if not await uow.cart_quantity(customer_id, product_id):
        raise NotFound("cart item", product_id)
    removed = CartItemRemoved(customer_id=customer_id, product_id=product_id)
    await _record_cart(uow, customer_id, _envelope(removed, customer_id, trace))


async def _record_cart(uow: CheckoutUnitOfWork, customer_id: uuid.UUID, event: Envelope) -> None:
    await uow.record_next(cart_stream(customer_id), [event], str(customer_id))


async def top_up(
    uow: CheckoutUnitOfWork, customer_id: uuid.UUID, amount: int, actor: str, trace: Trace
) -> tuple[uuid.UUID, int]:
    """Credit the wallet; return the top-up id and the new balance."""
    await _lock_customer(uow, customer_id)
    held, transfer_id = await uow.reserve_wallet_transfer(customer_id)
    balance = held + amount
    top_up_id = uuid.uuid4()
    payload = WalletToppedUp(
        customer_id=customer_id,
        top_up_id=top_up_id,
        amount=amount,
        balance=balance,
        topped_up_by=actor,
        entry_id=transfer_id,
    )
    event = _envelope(payload, customer_id, trace)
    await uow.record_next(wallet_stream(customer_id), [event], actor)
    return top_up_id, balance


async def checkout(
    uow: CheckoutUnitOfWork, customer_id: uuid.UUID, items: Items | None, trace: Trace
) -> tuple[uuid.UUID, int, int]:
    """Pay the cart (or `items`, leaving the cart alone); return id, total and balance."""
    customer = await _lock_customer(uow, customer_id)
    lines = await _lines(uow, customer_id, items)
    total = domain.total(lines)
    held, transfer_id = await uow.reserve_wallet_transfer(customer_id)
    balance = held - total
    if balance < 0:
        raise ledger.InsufficientFunds(str(customer_id), total)
    transaction_id = uuid.uuid4()
    actor = str(customer_id)
    payload = WalletDebited(
        customer_id=customer_id,
        transaction_id=transaction_id,
        amount=total,
        balance=balance,
        items=[LineItem(**vars(line)) for line in lines],
        entry_id=transfer_id,
    )
    debited = _envelope(payload, customer_id, trace)
    await uow.record_next(wallet_stream(customer_id), [debited], actor)
    if items is None:
        # Only the lines priced here leave the cart: a line added since stays, unpaid.
        cleared = CartCleared(
            customer_id=customer_id,
            transaction_id=transaction_id,
            product_ids=[line.product_id for line in lines],
        )
        await _record_cart(uow, customer_id, _envelope(cleared, customer_id, trace))
    caused = Trace(trace.correlation_id, trace.traceparent, str(debited.id))
    job = reward_job(transaction_id, customer_id, total, customer.tier, caused)
    await uow.record(transaction_stream(transaction_id), 0, [job], actor)
    await enqueue_reward_job(uow, job, customer.tier)
    await uow.start_reward_handoff(transaction_id)
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


async def enqueue_reward_job(uow: CheckoutUnitOfWork, job: Envelope, tier: int) -> None:
    """Write the reward job to the outbox."""
    await uow.publish(REWARD_JOBS, job, reward_job_attributes(job, tier))


def reward_job_attributes(job: Envelope, tier: int) -> dict[str, str]:
    """A reward job's outbox attributes: its job id (the transaction) de-duplicates it, the
    buyer's tier is its priority."""
    return {"jobId": job.subject, "priority": str(tier)}


async def _lines(
    uow: CheckoutUnitOfWork, customer_id: uuid.UUID, items: Items | None
) -> list[Line]:
    if items is None:
        return await uow.cart_lines(customer_id)
    quantities: dict[uuid.UUID, int] = {}
    for product_id, quantity in items:
        quantities[product_id] = quantities.get(product_id, 0) + quantity
    if any(q > domain.MAX_QUANTITY for q in quantities.values()):
        raise Problem(422, f"at most {domain.MAX_QUANTITY} of one product", title="Too many")
    lines, missing = await uow.price_items(quantities)
    if missing:
        raise domain.UnknownProducts(missing)
    return lines
