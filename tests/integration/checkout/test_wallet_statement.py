"""GET /wallet: each entry names its transfer's counter-account and reference, and the
statement pages with the opaque cursor (the older `before` still answers for one release)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from shared.http.pagination import encode_cursor
from tests.integration.checkout.conftest import Api


async def _refund(api: Api, transaction_id: str, amount: int) -> Any:
    headers = {**api.admin, "Idempotency-Key": str(uuid.uuid4())}
    return await api.ok(
        await api.client.post(
            f"/transactions/{transaction_id}/refunds", json={"amount": amount}, headers=headers
        ),
        201,
    )


async def test_wallet_entries_show_where_the_money_came_from_and_went(api: Api) -> None:
    ada = await api.customer()
    tea = await api.product("Tea", 300)
    top_up = await api.ok(
        await api.client.post(
            "/wallet/top-ups",
            json={"customer_id": ada, "amount": 1_000},
            headers={**api.admin, "Idempotency-Key": str(uuid.uuid4())},
        ),
        201,
    )
    paid = await api.ok(
        await api.checkout(ada, {"items": [{"product_id": tea, "quantity": 2}]}), 201
    )
    refund = await _refund(api, paid["transaction_id"], 250)

    wallet = await api.wallet(ada)
    assert wallet["balance"] == 1_000 - 600 + 250
    assert [
        (e["kind"], e["amount"], e["counter_account"], e["reference"]) for e in wallet["entries"]
    ] == [
        ("refund", 250, {"type": "shop_revenue", "owner_id": "mall"}, refund["refund_id"]),
        (
            "checkout_debit",
            -600,
            {"type": "shop_revenue", "owner_id": "mall"},
            paid["transaction_id"],
        ),
        ("top_up", 1_000, {"type": "top_up_source", "owner_id": "mall"}, top_up["top_up_id"]),
    ]
    assert wallet["next_cursor"] is None and wallet["next_before"] is None


async def test_the_wallet_statement_pages_with_the_cursor(api: Api) -> None:
    ada = await api.customer()
    for amount in range(1, 8):
        await api.top_up(ada, amount)
    me = api.as_customer(ada)
    seen: list[int] = []
    url = "/wallet?limit=3"
    pages = 0
    while url:
        page = await api.ok(await api.client.get(url, headers=me))
        seen += [e["amount"] for e in page["entries"]]
        pages += 1
        url = f"/wallet?limit=3&cursor={page['next_cursor']}" if page["next_cursor"] else ""
    assert (seen, pages) == ([7, 6, 5, 4, 3, 2, 1], 3)

    # `before` from the previous release goes on working, and agrees with the cursor.
    first = await api.ok(await api.client.get("/wallet?limit=3", headers=me))
    by_id = await api.ok(
        await api.client.get(f"/wallet?limit=3&before={first['next_before']}", headers=me)
    )
    by_cursor = await api.ok(
        await api.client.get(f"/wallet?limit=3&cursor={first['next_cursor']}", headers=me)
    )
    assert by_id["entries"] == by_cursor["entries"]
    assert [e["amount"] for e in by_id["entries"]] == [4, 3, 2]


async def test_a_cursor_not_made_by_the_wallet_is_refused(api: Api) -> None:
    ada = await api.customer()
    me = api.as_customer(ada)
    # The second is a well-formed cursor whose position is past any transfer id.
    huge = encode_cursor(datetime.now(UTC), uuid.UUID(int=2**128 - 1))
    for cursor in ("not-a-cursor", huge):
        response = await api.client.get(f"/wallet?cursor={cursor}", headers=me)
        assert response.status == 400, await response.text()
        assert response.content_type == "application/problem+json"


async def test_the_openapi_document_describes_the_statement(api: Api) -> None:
    document = await api.ok(await api.client.get("/openapi.json"))
    for path in ("/wallet", "/customers/{customer_id}/rewards"):
        get = document["paths"][path]["get"]
        params = {p["name"]: p for p in get["parameters"]}
        assert {"cursor", "limit", "before"} <= set(params), path
        assert params["before"]["schema"]["deprecated"] is True
    schemas = document["components"]["schemas"]
    assert {"counter_account", "reference", "amount"} <= set(schemas["LedgerEntry"]["properties"])
    assert set(schemas["LedgerAccount"]["properties"]) == {"type", "owner_id"}
    assert "next_cursor" in schemas["Wallet"]["properties"]
