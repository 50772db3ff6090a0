"""Demo data: a small catalogue and a referral chain of customers with a funded wallet.

Idempotent: fixed ids, and every write is skipped when it was done before, so running
the seed twice changes nothing. Mint a token for a demo customer with its id as `sub`.
"""

from __future__ import annotations

import uuid

import asyncpg

from services.checkout_api import commands, storage
from services.checkout_api.typedefs import SCHEMA
from services.checkout_api.uow import PostgresUnitOfWork
from shared.config import Settings
from shared.events.envelope import Trace

SEED = uuid.UUID("6c1e7a52-0000-4000-8000-000000000000")
PRODUCTS = [("Green tea", 450), ("Espresso beans 1 kg", 2_399), ("Ceramic mug", 1_250)]
# A referral chain, root first: each customer is referred by the one before.
CUSTOMERS = [("Grace (root)", 2), ("Alan", 1), ("Barbara", 1), ("Ken", 0), ("Ada", 0)]
DEMO_TOP_UP = 50_000  # cents, for the last customer of the chain


def seed_id(kind: str, n: int) -> uuid.UUID:
    return uuid.uuid5(SEED, f"{kind}-{n}")


TRACE = Trace()  # demo data answers no request


async def seed(conn: asyncpg.Connection, settings: Settings) -> None:
    uow = PostgresUnitOfWork(conn)
    for n, (name, price) in enumerate(PRODUCTS):
        product_id = seed_id("product", n)
        if not await storage.product_exists(conn, product_id):
            await commands.add_product(uow, name, price, "seed", TRACE, product_id=product_id)
    referrer: uuid.UUID | None = None
    for n, (name, tier) in enumerate(CUSTOMERS):
        customer_id = seed_id("customer", n)
        if await storage.customer(conn, customer_id) is None:
            await commands.register_customer(
                uow, name, referrer, tier, "seed", TRACE, customer_id=customer_id
            )
        referrer = customer_id
    buyer = seed_id("customer", len(CUSTOMERS) - 1)
    if not await conn.fetchval(
        f"""SELECT true FROM {SCHEMA}.ledger_transfers
            WHERE credit_type = 'wallet' AND credit_owner = $1 AND kind = 'top_up'""",
        str(buyer),
    ):
        await commands.top_up(uow, buyer, DEMO_TOP_UP, "seed", TRACE)
