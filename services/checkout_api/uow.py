"""The unit of work of a checkout command: what a command may read and write, and nothing else.

`PostgresUnitOfWork` runs on one connection inside the caller's transaction (the
Idempotency-Key's, or the reconciler's): a command's writes commit or roll back together.
Unit tests hand the commands a fake with the same methods.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg

from services.checkout_api import storage
from services.checkout_api.domain import Line
from services.checkout_api.projections import PROJECTORS
from services.checkout_api.typedefs import SCHEMA
from shared.events.envelope import Envelope
from shared.messaging import outbox
from shared.storage import ledger
from shared.storage.ledger import Reserved, next_transfer_ids
from shared.storage.projections import record, record_next


@dataclass(frozen=True)
class Customer:
    """What a command needs to know of a customer."""

    id: uuid.UUID
    tier: int


@dataclass(frozen=True)
class PaidTransaction:
    """What a refund needs to know of a paid checkout."""

    id: uuid.UUID
    customer_id: uuid.UUID
    total: int
    refunded: int


class CheckoutUnitOfWork(Protocol):
    async def customer(self, customer_id: uuid.UUID) -> Customer | None: ...

    async def lock_customer(self, customer_id: uuid.UUID) -> Customer | None:
        """The customer, locked until the unit ends: its wallet and cart change one by one."""
        ...

    async def product_exists(self, product_id: uuid.UUID) -> bool: ...

    async def cart_quantity(self, customer_id: uuid.UUID, product_id: uuid.UUID) -> int: ...

    async def cart_lines(self, customer_id: uuid.UUID) -> list[Line]:
        """The cart priced from the catalogue."""
        ...

    async def price_items(
        self, quantities: Mapping[uuid.UUID, int]
    ) -> tuple[list[Line], list[uuid.UUID]]:
        """Lines of these products priced from the catalogue, and the ids not in it."""
        ...

    async def wallet_balance(self, customer_id: uuid.UUID) -> int: ...

    async def paid_transaction(self, transaction_id: uuid.UUID) -> PaidTransaction | None:
        """A checkout with what its refunds have paid back so far."""
        ...

    async def next_transfer_ids(self, count: int) -> list[int]:
        """Reserve ledger transfer ids for the event that will carry them."""
        ...

    async def reserve_wallet_transfer(self, customer_id: uuid.UUID) -> Reserved:
        """The wallet's balance and a transfer id reserved for the event that will move it,
        in one round trip (read it under the customer's lock)."""
        ...

    async def record(
        self, stream: str, expected_version: int, events: Sequence[Envelope], actor: str
    ) -> None:
        """Append after `expected_version` (409 when another got there first) and project."""
        ...

    async def record_next(self, stream: str, events: Sequence[Envelope], actor: str) -> None:
        """Append after the stream's last version, whatever it is, and project."""
        ...

    async def publish(
        self, destination: str, event: Envelope, attributes: Mapping[str, str]
    ) -> None:
        """Send the event to a destination through the outbox, when the unit commits."""
        ...

    async def start_reward_handoff(self, transaction_id: uuid.UUID) -> None:
        """Start the reconciler's clock of a transaction's reward job."""
        ...

    async def start_reversal_handoff(self, refund_id: uuid.UUID) -> None:
        """Start the reconciler's clock of a refund's reversal job."""
        ...


class PostgresUnitOfWork:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def customer(self, customer_id: uuid.UUID) -> Customer | None:
        return _customer(await storage.customer(self.conn, customer_id))

    async def lock_customer(self, customer_id: uuid.UUID) -> Customer | None:
        return _customer(await storage.lock_customer(self.conn, customer_id))

    async def product_exists(self, product_id: uuid.UUID) -> bool:
        return await storage.product_exists(self.conn, product_id)

    async def cart_quantity(self, customer_id: uuid.UUID, product_id: uuid.UUID) -> int:
        return await storage.cart_quantity(self.conn, customer_id, product_id)

    async def cart_lines(self, customer_id: uuid.UUID) -> list[Line]:
        return await storage.cart_lines(self.conn, customer_id)

    async def price_items(
        self, quantities: Mapping[uuid.UUID, int]
    ) -> tuple[list[Line], list[uuid.UUID]]:
        return await storage.price_items(self.conn, dict(quantities))

    async def wallet_balance(self, customer_id: uuid.UUID) -> int:
        return await storage.wallet_balance(self.conn, customer_id)

    async def paid_transaction(self, transaction_id: uuid.UUID) -> PaidTransaction | None:
        row = await storage.paid_transaction(self.conn, transaction_id)
        if row is None:
            return None
        return PaidTransaction(row["id"], row["customer_id"], row["total"], row["refunded"])

    async def next_transfer_ids(self, count: int) -> list[int]:
        return await next_transfer_ids(self.conn, SCHEMA, count)

    async def reserve_wallet_transfer(self, customer_id: uuid.UUID) -> Reserved:
        return await ledger.reserve_transfer(self.conn, SCHEMA, ledger.wallet(customer_id))

    async def record(
        self, stream: str, expected_version: int, events: Sequence[Envelope], actor: str
    ) -> None:
        await record(self.conn, SCHEMA, stream, expected_version, events, PROJECTORS, actor=actor)

    async def record_next(self, stream: str, events: Sequence[Envelope], actor: str) -> None:
        await record_next(self.conn, SCHEMA, stream, events, PROJECTORS, actor=actor)

    async def publish(
        self, destination: str, event: Envelope, attributes: Mapping[str, str]
    ) -> None:
        await outbox.add(self.conn, SCHEMA, destination, event, attributes=dict(attributes))

    async def start_reward_handoff(self, transaction_id: uuid.UUID) -> None:
        await storage.start_reward_handoff(self.conn, transaction_id)

    async def start_reversal_handoff(self, refund_id: uuid.UUID) -> None:
        await self.conn.execute(
            f"INSERT INTO {SCHEMA}.refund_handoffs (refund_id) VALUES ($1)", refund_id
        )


def _customer(row: asyncpg.Record | None) -> Customer | None:
    return None if row is None else Customer(row["id"], row["tier"])
