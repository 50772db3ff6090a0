"""Checkout and reward events: published by checkout_api and reward_worker."""

from __future__ import annotations

import uuid

from shared.events.envelope import Payload, event_type

# The streams both writers of the checkout context append to: checkout_api opens them,
# reward_worker records its rewards, reversals and level upgrades after.


def transaction_stream(transaction_id: uuid.UUID) -> str:
    """A checkout's stream: CHECKOUT_COMPLETED, then its rewards and their reversals."""
    return f"transaction-{transaction_id}"


def customer_stream(customer_id: uuid.UUID | str) -> str:
    """A customer's stream: CUSTOMER_REGISTERED, then the level upgrades."""
    return f"customer-{customer_id}"


@event_type("CHECKOUT_COMPLETED")
class CheckoutCompleted(Payload):
    """The reward job: a paid checkout whose tree points are still to be distributed."""

    transaction_id: uuid.UUID
    customer_id: str
    total: int
    tier: int = 0


@event_type("REWARDS_DISTRIBUTED")
class RewardsDistributed(Payload):
    transaction_id: uuid.UUID
    buyer_id: str
    total: int
    credits: list[RewardCredit]


class RewardCredit(Payload):
    customer_id: str
    depth: int
    points: int


@event_type("LEVEL_UPGRADED")
class LevelUpgraded(Payload):
    customer_id: str
    old_level: int
    new_level: int
    total_points: int


RewardsDistributed.model_rebuild()


@event_type("POINTS_CREDITED")
class PointsCredited(Payload):
    """The tree points ledger transfers of one checkout's rewards (from the mall's reward
    expense to each member), recorded with its REWARDS_DISTRIBUTED. Internal to the checkout
    context: it carries the transfer ids (`entry_id`), so a replay rebuilds each transfer
    under the id it had."""

    transaction_id: uuid.UUID
    buyer_id: str
    entries: list[PointsEntry]


class PointsEntry(Payload):
    """Points for the member at `depth`; `level` and `rate` are the member's before it."""

    entry_id: int
    customer_id: str
    depth: int
    points: int
    level: int
    rate: int


PointsCredited.model_rebuild()


# Events that stay inside the checkout context (its event store), from which its read
# models (customers, catalogue, carts, wallets, transactions) are projected and rebuilt.


@event_type("CUSTOMER_REGISTERED")
class CustomerRegistered(Payload):
    customer_id: uuid.UUID
    name: str
    referrer_id: uuid.UUID | None = None
    tier: int = 0


@event_type("PRODUCT_ADDED")
class ProductAdded(Payload):
    product_id: uuid.UUID
    name: str
    price: int


@event_type("WALLET_TOPPED_UP")
class WalletToppedUp(Payload):
    """`entry_id` is the id of the ledger transfer it made, from the mall's top-up source to
    the wallet (replayed under the same id)."""

    customer_id: uuid.UUID
    top_up_id: uuid.UUID
    amount: int
    balance: int
    topped_up_by: str | None = None
    entry_id: int | None = None


class LineItem(Payload):
    product_id: uuid.UUID
    name: str
    unit_price: int
    quantity: int


@event_type("WALLET_DEBITED")
class WalletDebited(Payload):
    """A checkout paid from the wallet: the debit and what it bought. `entry_id` is the id
    of the ledger transfer it made, from the wallet to the shop's revenue."""

    customer_id: uuid.UUID
    transaction_id: uuid.UUID
    amount: int
    balance: int
    items: list[LineItem]
    entry_id: int | None = None


# The cart's events (stream `cart-<customer id>`).


@event_type("CART_ITEM_ADDED")
class CartItemAdded(Payload):
    """Units of a product put in a cart (added to the line if there is one)."""

    customer_id: uuid.UUID
    product_id: uuid.UUID
    quantity: int


@event_type("CART_ITEM_REMOVED")
class CartItemRemoved(Payload):
    """A product's line taken out of a cart."""

    customer_id: uuid.UUID
    product_id: uuid.UUID


@event_type("CART_CLEARED")
class CartCleared(Payload):
    """A checkout paid these lines of the cart, which leave it; lines added since stay."""

    customer_id: uuid.UUID
    transaction_id: uuid.UUID
    product_ids: list[uuid.UUID]


# Refunds (stream `transaction-<id>`).


@event_type("REFUND_ISSUED")
class RefundIssued(Payload):
    """Part or all of a checkout paid back to the wallet; also the reward reversal job.

    `refunded_before` is what earlier refunds of the transaction had paid back, so the
    worker reverses exactly the share between `refunded_before` and `refunded_before +
    amount` of `total`. `entry_id` is the id of the ledger transfer it made, from the shop's
    revenue to the wallet."""

    refund_id: uuid.UUID
    transaction_id: uuid.UUID
    customer_id: uuid.UUID
    amount: int
    total: int
    refunded_before: int
    balance: int
    reason: str | None = None
    entry_id: int | None = None


@event_type("REWARDS_REVERSED")
class RewardsReversed(Payload):
    """The tree points a refund took back, in proportion to the refunded share (the notice)."""

    refund_id: uuid.UUID
    transaction_id: uuid.UUID
    buyer_id: str
    reversals: list[RewardCredit]


@event_type("POINTS_REVERSED")
class PointsReversed(Payload):
    """The points ledger transfers of one refund's reversal (from each member back to the
    mall's reward expense), recorded with its REWARDS_REVERSED. Internal to the checkout
    context; `points` of each entry is what is taken back, `entry_id` its transfer's id."""

    refund_id: uuid.UUID
    transaction_id: uuid.UUID
    buyer_id: str
    entries: list[PointsEntry]
