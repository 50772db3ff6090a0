"""A cart changed while it is being paid: only what was priced is charged and cleared."""

from __future__ import annotations

import asyncio

from shared.storage.pool import Database
from tests.integration.checkout.conftest import Api
from tests.support.wait import eventually


async def _lock_waiters(db: Database) -> int:
    async with db.acquire() as conn:
        return int(
            await conn.fetchval(
                """SELECT count(*) FROM pg_stat_activity
                   WHERE datname = current_database() AND wait_event_type = 'Lock'"""
            )
        )


async def test_a_line_added_while_a_checkout_runs_stays_in_the_cart_and_is_not_charged(
    api: Api, db: Database
) -> None:
    tea, cake = await api.product("Tea", 100), await api.product("Cake", 250)
    ada = await api.customer()
    await api.top_up(ada, 10_000)
    await api.add(ada, tea, 2)

    # Hold the wallet's balance row: the checkout prices the cart, then waits on it.
    async with db.transaction() as blocker:
        await blocker.execute(
            """SELECT 1 FROM checkout.ledger_accounts
               WHERE account_type = 'wallet' AND owner_id = $1 FOR UPDATE""",
            ada,
        )
        paying = asyncio.create_task(api.checkout(ada))
        await eventually(lambda: _lock_waiters(db), what="the checkout waits on the wallet")
        adding = asyncio.create_task(api.add(ada, cake, 1))

        async def added_or_waiting() -> bool:
            return adding.done() or await _lock_waiters(db) >= 2

        await eventually(added_or_waiting, what="the cart line added or waiting")
    paid = await api.ok(await paying, 201)
    await adding

    assert paid["total"] == 200, "the checkout charges only the lines it priced"
    cart = await api.ok(await api.client.get("/carts/me", headers=api.as_customer(ada)))
    assert [(i["product_id"], i["quantity"]) for i in cart["items"]] == [(cake, 1)]
    assert (await api.wallet(ada))["balance"] == 10_000 - 200


async def test_checking_out_the_cart_leaves_lines_of_other_customers_alone(api: Api) -> None:
    tea = await api.product("Tea", 100)
    ada, alan = await api.customer("Ada"), await api.customer("Alan")
    await api.top_up(ada, 1_000)
    await api.add(ada, tea, 1)
    await api.add(alan, tea, 3)

    await api.ok(await api.checkout(ada), 201)

    cart = await api.ok(await api.client.get("/carts/me", headers=api.as_customer(alan)))
    assert [(i["product_id"], i["quantity"]) for i in cart["items"]] == [(tea, 3)]
