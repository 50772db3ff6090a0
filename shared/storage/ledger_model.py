"""The ledger's model, pure: accounts, their units, transfers and what a statement shows.

Every movement is a `Transfer` of a positive amount from one account (its debit) to another
(its credit) of the same unit. Posting and reading are in ledger.py, which re-exports these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Account types. Customers' accounts are owned by the customer id; the others by MALL.
WALLET = "wallet"
POINTS = "points"
SHOP_REVENUE = "shop_revenue"
TOP_UP_SOURCE = "top_up_source"
REWARD_EXPENSE = "reward_expense"
MALL = "mall"

CENTS, WHOLE_POINTS = "cents", "points"
UNITS = {
    WALLET: CENTS,
    SHOP_REVENUE: CENTS,
    TOP_UP_SOURCE: CENTS,
    POINTS: WHOLE_POINTS,
    REWARD_EXPENSE: WHOLE_POINTS,
}
# Accounts with a balance row that may never go below zero.
CUSTOMER_TYPES = frozenset({WALLET, POINTS})


@dataclass(frozen=True, order=True)
class Account:
    type: str
    owner: str

    @property
    def unit(self) -> str:
        if self.type not in UNITS:
            raise ValueError(f"unknown account type {self.type!r}")
        return UNITS[self.type]


def wallet(customer_id: object) -> Account:
    return Account(WALLET, str(customer_id))


def points(customer_id: object) -> Account:
    return Account(POINTS, str(customer_id))


SHOP = Account(SHOP_REVENUE, MALL)
TOP_UPS = Account(TOP_UP_SOURCE, MALL)
REWARDS = Account(REWARD_EXPENSE, MALL)


@dataclass(frozen=True)
class Transfer:
    """`amount` moves from `debit` to `credit`; `id` None numbers it when posted."""

    id: int | None
    kind: str
    reference: str
    debit: Account
    credit: Account
    amount: int
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError(f"a transfer moves a positive amount, not {self.amount}")
        if self.debit == self.credit:
            raise ValueError(f"a transfer needs two accounts, not {self.debit} twice")
        if self.debit.unit != self.credit.unit:
            raise ValueError(f"{self.debit} and {self.credit} are in different units")


@dataclass(frozen=True)
class Entry:
    """One side of a transfer, as an account's statement shows it."""

    transfer_id: int
    amount: int
    kind: str
    reference: str
    counter: Account
    details: dict[str, Any]
    created_at: datetime
