"""A unit of work in memory, for the checkout commands' unit tests (no PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from services.checkout_api.domain import Line
from services.checkout_api.uow import Customer, PaidTransaction
from shared.errors import Conflict
from shared.events.envelope import Envelope
from shared.storage.ledger import Reserved


@dataclass
class FakeUnitOfWork:
    """Streams, customers, catalogue, carts, wallets and the outbox in dictionaries."""

    customers: dict[uuid.UUID, Customer] = field(default_factory=dict)
    products: dict[uuid.UUID, tuple[str, int]] = field(default_factory=dict)
    carts: dict[uuid.UUID, dict[uuid.UUID, int]] = field(default_factory=dict)
    balances: dict[uuid.UUID, int] = field(default_factory=dict)
    streams: dict[str, list[Envelope]] = field(default_factory=dict)
    published: list[tuple[str, Envelope, dict[str, str]]] = field(default_factory=list)
    handoffs: list[uuid.UUID] = field(default_factory=list)
    entries: int = 0
    locked: list[uuid.UUID] = field(default_factory=list)
    transactions: dict[uuid.UUID, PaidTransaction] = field(default_factory=dict)

    async def customer(self, customer_id: uuid.UUID) -> Customer | None:
        return self.customers.get(customer_id)

    async def lock_customer(self, customer_id: uuid.UUID) -> Customer | None:
        self.locked.append(customer_id)
        return self.customers.get(customer_id)

    async def product_exists(self, product_id: uuid.UUID) -> bool:
        return product_id in self.products

    async def cart_quantity(self, customer_id: uuid.UUID, product_id: uuid.UUID) -> int:
        return self.carts.get(customer_id, {}).get(product_id, 0)

    async def cart_lines(self, customer_id: uuid.UUID) -> list[Line]:
        cart = self.carts.get(customer_id, {})
        return [Line(p, *self.products[p], q) for p, q in sorted(cart.items())]

    async def price_items(
        self, quantities: Mapping[uuid.UUID, int]
    ) -> tuple[list[Line], list[uuid.UUID]]:
        lines = [Line(p, *self.products[p], q) for p, q in quantities.items() if p in self.products]
        return lines, [p for p in quantities if p not in self.products]

    async def wallet_balance(self, customer_id: uuid.UUID) -> int:
        return self.balances.get(customer_id, 0)

    async def paid_transaction(self, transaction_id: uuid.UUID) -> PaidTransaction | None:
        return self.transactions.get(transaction_id)

    async def next_transfer_ids(self, count: int) -> list[int]:
        self.entries += count
        return list(range(self.entries - count + 1, self.entries + 1))

    async def reserve_wallet_transfer(self, customer_id: uuid.UUID) -> Reserved:
        (transfer_id,) = await self.next_transfer_ids(1)
        return Reserved(await self.wallet_balance(customer_id), transfer_id)

    async def record(
        self, stream: str, expected_version: int, events: Sequence[Envelope], actor: str
    ) -> None:
        if len(self.streams.get(stream, [])) != expected_version:
            raise Conflict(f"stream {stream} moved on")
        await self.record_next(stream, events, actor)

    async def record_next(self, stream: str, events: Sequence[Envelope], actor: str) -> None:
        for event in events:
            self.streams.setdefault(stream, []).append(event)
            self._project(event)

    async def publish(
        self, destination: str, event: Envelope, attributes: Mapping[str, str]
    ) -> None:
        self.published.append((destination, event, dict(attributes)))

    async def start_reward_handoff(self, transaction_id: uuid.UUID) -> None:
        self.handoffs.append(transaction_id)

    async def start_reversal_handoff(self, refund_id: uuid.UUID) -> None:
        self.handoffs.append(refund_id)

    def types(self, stream: str) -> list[str]:
        return [event.type for event in self.streams.get(stream, [])]

    def _project(self, event: Envelope) -> None:
        data, kind = event.data, event.type
        if kind == "CUSTOMER_REGISTERED":
            customer_id = uuid.UUID(data["customer_id"])
            self.customers[customer_id] = Customer(customer_id, data["tier"])
        elif kind == "PRODUCT_ADDED":
            self.products[uuid.UUID(data["product_id"])] = (data["name"], data["price"])
        elif kind in ("CART_ITEM_ADDED", "CART_ITEM_REMOVED", "CART_CLEARED"):
            cart = self.carts.setdefault(uuid.UUID(data["customer_id"]), {})
            if kind == "CART_ITEM_ADDED":
                product = uuid.UUID(data["product_id"])
                cart[product] = cart.get(product, 0) + data["quantity"]
            elif kind == "CART_ITEM_REMOVED":
                cart.pop(uuid.UUID(data["product_id"]), None)
            else:
                for product in data["product_ids"]:
                    cart.pop(uuid.UUID(product), None)
        elif kind in ("WALLET_TOPPED_UP", "WALLET_DEBITED", "REFUND_ISSUED"):
            self.balances[uuid.UUID(data["customer_id"])] = data["balance"]
        if kind == "WALLET_DEBITED":
            paid = uuid.UUID(data["transaction_id"])
            buyer = uuid.UUID(data["customer_id"])
            self.transactions[paid] = PaidTransaction(paid, buyer, data["amount"], 0)
        elif kind == "REFUND_ISSUED":
            old = self.transactions[uuid.UUID(data["transaction_id"])]
            new = PaidTransaction(old.id, old.customer_id, old.total, old.refunded + data["amount"])
            self.transactions[old.id] = new
