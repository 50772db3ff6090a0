"""Checkout end to end over HTTP: one transaction debits, records, clears and queues."""

from __future__ import annotations

import uuid

from shared.storage import ledger
from shared.storage.pool import Database
from tests.integration.checkout.conftest import Api


async def test_checkout_debits_the_wallet_records_the_transaction_and_clears_the_cart(
    api: Api, db: Database
) -> None:
    tea, cake = await api.product("Tea", 250), await api.product("Cake", 1999)
    ada = await api.customer("Ada")
    assert await api.top_up(ada, 10_000) == 10_000
    await api.add(ada, tea, 2)
    cart = await api.add(ada, cake)
    assert cart["total"] == 2 * 250 + 1999

    response = await api.checkout(ada)
    body = await api.ok(response, 201)
    assert body == {
        "transaction_id": body["transaction_id"],
        "total": 2499,
        "balance": 7501,
        "rewards": "pending",
    }
    me = api.as_customer(ada)
    assert (await api.ok(await api.client.get("/carts/me", headers=me)))["items"] == []
    wallet = await api.wallet(ada)
    assert wallet["balance"] == 7501
    assert [(e["kind"], e["amount"]) for e in wallet["entries"]] == [
        ("checkout_debit", -2499),
        ("top_up", 10_000),
    ]
    transaction = await api.ok(
        await api.client.get(f"/transactions/{body['transaction_id']}", headers=me)
    )
    assert transaction["rewards"] == "pending"
    assert transaction["total"] == 2499
    assert sorted((i["name"], i["quantity"], i["amount"]) for i in transaction["items"]) == [
        ("Cake", 1, 1999),
        ("Tea", 2, 500),
    ]
    async with db.acquire() as conn:
        assert await ledger.entries_sum(conn, "checkout", ledger.WALLET, ada) == 7501
        events = await conn.fetch(
            "SELECT type FROM checkout.events WHERE stream_id = $1 ORDER BY version",
            f"wallet-{ada}",
        )
        assert [e["type"] for e in events] == ["WALLET_TOPPED_UP", "WALLET_DEBITED"]
        job = await conn.fetchrow(
            "SELECT message_type, attributes FROM checkout.outbox WHERE attributes->>'jobId' = $1",
            body["transaction_id"],
        )
        assert job["message_type"] == "CHECKOUT_COMPLETED"


async def test_prices_come_from_the_catalogue_at_checkout_time(api: Api) -> None:
    tea = await api.product("Tea", 300)
    ada = await api.customer()
    await api.top_up(ada, 1000)
    await api.add(ada, tea, 3)
    body = await api.ok(
        await api.checkout(ada, {"items": [{"product_id": tea, "quantity": 1}]}), 201
    )
    assert body["total"] == 300
    cart = await api.ok(await api.client.get("/carts/me", headers=api.as_customer(ada)))
    assert cart["total"] == 900, "buying items directly leaves the cart as it was"


async def test_insufficient_balance_is_402_and_changes_nothing(api: Api, db: Database) -> None:
    tea = await api.product("Tea", 1001)
    ada = await api.customer()
    await api.top_up(ada, 1000)
    await api.add(ada, tea)
    response = await api.checkout(ada)
    assert response.status == 402
    assert response.content_type == "application/problem+json"
    assert (await api.wallet(ada))["balance"] == 1000
    cart = await api.ok(await api.client.get("/carts/me", headers=api.as_customer(ada)))
    assert cart["total"] == 1001
    async with db.acquire() as conn:
        assert not await conn.fetchval(
            "SELECT count(*) FROM checkout.transactions WHERE customer_id = $1", uuid.UUID(ada)
        )


async def test_an_empty_cart_or_an_unknown_customer_cannot_check_out(api: Api) -> None:
    ada = await api.customer()
    await api.top_up(ada, 1000)
    empty = await api.checkout(ada)
    assert empty.status == 409
    assert (await empty.json())["title"] == "Empty cart"
    assert (await api.checkout(str(uuid.uuid4()))).status == 404
    assert (await api.checkout("not-a-uuid")).status == 404
    unknown = await api.checkout(ada, {"items": [{"product_id": str(uuid.uuid4())}]})
    assert unknown.status == 422
    assert (await api.wallet(ada))["balance"] == 1000


async def test_checkout_requires_an_idempotency_key(api: Api) -> None:
    ada = await api.customer()
    response = await api.client.post("/checkout", headers=api.as_customer(ada))
    assert response.status == 400
    assert "Idempotency-Key" in (await response.json())["detail"]


async def test_a_cart_line_holds_at_most_a_thousand_units(api: Api) -> None:
    tea = await api.product()
    ada = await api.customer()
    await api.add(ada, tea, 1000)
    response = await api.client.post(
        "/carts/me/items",
        json={"product_id": tea, "quantity": 1},
        headers=api.as_customer(ada),
    )
    assert response.status == 422
    me = api.as_customer(ada)
    assert (await api.client.delete(f"/carts/me/items/{tea}", headers=me)).status == 200
    assert (await api.client.delete(f"/carts/me/items/{tea}", headers=me)).status == 404
