"""Checkout rules, pure: cart lines, totals, the referral upline. No I/O here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared.errors import Problem

MAX_QUANTITY = 1000  # of one product in one cart or checkout
MAX_LINES = 100  # distinct products in one checkout
MAX_PRICE = 100_000_000  # cents: a million per unit
MAX_TOP_UP = 10_000_000_000  # cents: a hundred million per top-up
MAX_TIER = 10


@dataclass(frozen=True)
class Line:
    """One product of a checkout, priced from the catalogue."""

    product_id: uuid.UUID
    name: str
    unit_price: int
    quantity: int

    @property
    def amount(self) -> int:
        return self.unit_price * self.quantity


class EmptyCart(Problem):
    def __init__(self) -> None:
        super().__init__(409, "there is nothing to check out", title="Empty cart")


class UnknownProducts(Problem):
    def __init__(self, missing: list[uuid.UUID]) -> None:
        super().__init__(
            422,
            "these products are not in the catalogue: " + ", ".join(map(str, missing)),
            title="Unknown product",
            products=[str(p) for p in missing],
        )


def total(lines: list[Line]) -> int:
    """The amount to debit, in cents; a checkout of nothing is refused."""
    if not lines:
        raise EmptyCart()
    return sum(line.amount for line in lines)
