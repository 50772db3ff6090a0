"""The demo data loads, and loading it twice changes nothing."""

from __future__ import annotations

from services.checkout_api.seed import CUSTOMERS, DEMO_TOP_UP, PRODUCTS, seed, seed_id
from shared.config import Settings
from shared.storage import ledger
from shared.storage.pool import Database


async def test_the_seed_is_idempotent_and_builds_a_funded_referral_chain(
    settings: Settings, db: Database
) -> None:
    for _ in range(2):
        async with db.transaction() as conn:
            await seed(conn, settings)
    buyer = seed_id("customer", len(CUSTOMERS) - 1)
    async with db.acquire() as conn:
        assert await ledger.balance(conn, "checkout", ledger.WALLET, str(buyer)) == DEMO_TOP_UP
        upline = await conn.fetch("SELECT customer_id FROM checkout.upline($1, 10)", buyer)
        assert [r["customer_id"] for r in upline] == [
            seed_id("customer", n) for n in reversed(range(len(CUSTOMERS) - 1))
        ]
        products = await conn.fetchval(
            "SELECT count(*) FROM checkout.products WHERE id = ANY($1::uuid[])",
            [seed_id("product", n) for n in range(len(PRODUCTS))],
        )
        assert products == len(PRODUCTS)
