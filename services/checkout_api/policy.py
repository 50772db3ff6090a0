"""Who may do what in the checkout context: every access rule in one place.

Admins run the shop (customers, products, top-ups, refunds) and may read anything; a
customer reads and spends only their own cart, wallet, transactions and rewards.
"""

from __future__ import annotations

import uuid

from shared.errors import NotFound
from shared.http.auth import Principal


def may_read(principal: Principal, customer_id: uuid.UUID) -> None:
    """403 unless the caller is this customer or an admin."""
    principal.require_owner(str(customer_id), "customer's data")


def may_see_transaction(principal: Principal, transaction_id: uuid.UUID, buyer: str) -> None:
    """Another customer's transaction is not found: its id reveals nothing."""
    if not principal.is_admin and principal.sub != buyer:
        raise NotFound("transaction", transaction_id)
