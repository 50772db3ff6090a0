"""Malformed input is a 4xx problem, never a 500; money is exact to the cent."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.http.app import PROBLEM_JSON
from tests.integration.checkout.conftest import Api

BAD_BODIES: list[Any] = [
    b"",
    b"{not json",
    b"\xff\xfe",
    b"[1, 2]",
    b"null",
    b'"text"',
    b"123456789012345678901234567890",
    b'{"a": ' * 50 + b"1" + b"}" * 50,
]
BAD_FIELDS: dict[str, list[dict[str, Any]]] = {
    "/products": [
        {"name": "Tea", "price": 10.5},
        {"name": "Tea", "price": "1000"},
        {"name": "Tea", "price": True},
        {"name": "Tea", "price": 0},
        {"name": "Tea", "price": -1},
        {"name": "Tea", "price": 10**30},
        {"name": "", "price": 1},
        {"name": "x" * 201, "price": 1},
        {"name": "Tea", "price": 1, "extra": 1},
    ],
    "/customers": [
        {"name": None},
        {"name": "Ada", "referrer_id": "nope"},
        {"name": "Ada", "tier": 11},
        {"name": "Ada", "tier": 1.5},
    ],
    "/wallet/top-ups": [
        {"customer_id": "nope", "amount": 1},
        {"amount": 1},
        {"customer_id": str(uuid.uuid4()), "amount": 0.01},
        {"customer_id": str(uuid.uuid4()), "amount": 1e3},
        {"customer_id": str(uuid.uuid4()), "amount": -5},
        {"customer_id": str(uuid.uuid4()), "amount": 10**20},
    ],
    "/carts/me/items": [
        {"product_id": "nope"},
        {"product_id": str(uuid.uuid4()), "quantity": 0},
        {"product_id": str(uuid.uuid4()), "quantity": 1001},
        {"product_id": str(uuid.uuid4()), "quantity": 2.5},
        {"product_id": str(uuid.uuid4()), "quantity": "2"},
    ],
    "/checkout": [
        {"items": []},
        {"items": "all"},
        {"items": [{"product_id": str(uuid.uuid4()), "quantity": -1}]},
        {"items": [{"quantity": 1}]},
        {"items": [{"product_id": str(uuid.uuid4())}] * 101},
        {"total": 1},
    ],
}


def _problem(status: int, content_type: str) -> None:
    assert 400 <= status < 500, status
    assert content_type == PROBLEM_JSON


@pytest.mark.parametrize("path", sorted(BAD_FIELDS))
async def test_malformed_bodies_are_problems_never_a_500(api: Api, path: str) -> None:
    ada = await api.customer()
    headers = api.admin if path in ("/products", "/customers", "/wallet/top-ups") else None
    headers = {**(headers or api.as_customer(ada)), "Idempotency-Key": str(uuid.uuid4())}
    for raw in BAD_BODIES:
        if path == "/checkout" and raw == b"":
            continue  # no body checks out the cart: not malformed
        response = await api.client.post(path, data=raw, headers=headers)
        _problem(response.status, response.content_type)
    for body in BAD_FIELDS[path]:
        headers["Idempotency-Key"] = str(uuid.uuid4())
        response = await api.client.post(path, json=body, headers=headers)
        _problem(response.status, response.content_type)
        assert response.status in (404, 422), (body, response.status)


async def test_malformed_queries_and_ids_are_problems_never_a_500(api: Api) -> None:
    ada = await api.customer()
    me, admin = api.as_customer(ada), api.admin
    for path, headers in [
        ("/products?limit=0", me),
        ("/products?limit=abc", me),
        ("/products?offset=-1", me),
        ("/wallet?limit=100000", me),
        ("/wallet?before=x", me),
        ("/wallet", admin),
        ("/wallet?customer_id=nope", admin),
        ("/transactions/nope", me),
        (f"/transactions/{uuid.uuid4()}", me),
        ("/customers/nope/rewards", admin),
        (f"/customers/{uuid.uuid4()}/rewards", admin),
        (f"/customers/{ada}/rewards?limit=-3", me),
    ]:
        response = await api.client.get(path, headers=headers)
        _problem(response.status, response.content_type)
    response = await api.client.delete("/carts/me/items/nope", headers=me)
    _problem(response.status, response.content_type)
    long_key = {**me, "Idempotency-Key": "k" * 256}
    response = await api.client.post("/checkout", headers=long_key)
    _problem(response.status, response.content_type)


async def test_amounts_are_exact_to_the_cent(api: Api) -> None:
    odd = await api.product("Gum", 1)
    third = await api.product("Third", 333)
    ada = await api.customer()
    await api.top_up(ada, 1)
    await api.top_up(ada, 999)
    await api.top_up(ada, 99_999_999)
    body = {"items": [{"product_id": odd, "quantity": 7}, {"product_id": third, "quantity": 3}]}
    paid = await api.ok(await api.checkout(ada, body), 201)
    assert paid["total"] == 7 + 999
    assert paid["balance"] == 1 + 999 + 99_999_999 - 1006
    assert (await api.wallet(ada))["balance"] == 99_999_993


async def test_auth_roles_and_ownership_are_enforced(api: Api) -> None:
    ada, bob = await api.customer("Ada"), await api.customer("Bob")
    tea = await api.product("Tea", 100)
    await api.top_up(ada, 100)
    paid = await api.ok(await api.checkout(ada, {"items": [{"product_id": tea}]}), 201)

    assert (await api.client.get("/wallet")).status == 401
    bad = {"Authorization": "Bearer not.a.token"}
    assert (await api.client.get("/wallet", headers=bad)).status == 401
    as_ada, as_bob = api.as_customer(ada), api.as_customer(bob)
    product = {"name": "Free", "price": 1}
    assert (await api.client.post("/products", json=product, headers=as_ada)).status == 403
    top_up = {"customer_id": ada, "amount": 10**6}
    assert (await api.client.post("/wallet/top-ups", json=top_up, headers=as_ada)).status == 403
    transaction = f"/transactions/{paid['transaction_id']}"
    assert (await api.client.get(transaction, headers=as_bob)).status == 404
    assert (await api.client.get(transaction, headers=api.admin)).status == 200
    assert (await api.client.get(f"/wallet?customer_id={ada}", headers=as_bob)).status == 403
    assert (await api.client.get(f"/customers/{ada}/rewards", headers=as_bob)).status == 403
    admin_view = await api.ok(await api.client.get(f"/wallet?customer_id={ada}", headers=api.admin))
    assert admin_view["balance"] == 0


async def test_the_wallet_pages_through_its_entries(api: Api) -> None:
    ada = await api.customer()
    for amount in range(1, 8):
        await api.top_up(ada, amount)
    me = api.as_customer(ada)
    first = await api.ok(await api.client.get("/wallet?limit=3", headers=me))
    assert [e["amount"] for e in first["entries"]] == [7, 6, 5]
    assert first["balance"] == 28
    rest = await api.ok(
        await api.client.get(f"/wallet?limit=10&before={first['next_before']}", headers=me)
    )
    assert [e["amount"] for e in rest["entries"]] == [4, 3, 2, 1]
    assert rest["next_before"] is None


async def test_products_are_listed_in_pages(api: Api) -> None:
    ada = await api.customer()
    me = api.as_customer(ada)
    for name in ("Zz-1", "Zz-2", "Zz-3"):
        await api.product(name, 50)
    listing = await api.ok(await api.client.get("/products?limit=200", headers=me))
    names = [p["name"] for p in listing["items"]]
    assert {"Zz-1", "Zz-2", "Zz-3"} <= set(names)
    assert names == sorted(names)


async def test_the_openapi_document_lists_every_checkout_route(api: Api) -> None:
    document = await api.ok(await api.client.get("/openapi.json"))
    assert set(document["paths"]) >= {
        "/products",
        "/carts/me",
        "/carts/me/items",
        "/carts/me/items/{product_id}",
        "/checkout",
        "/wallet",
        "/wallet/top-ups",
        "/transactions/{transaction_id}",
        "/customers",
        "/customers/{customer_id}/rewards",
    }
    checkout = document["paths"]["/checkout"]["post"]
    assert "402" in checkout["responses"]


async def test_a_top_up_without_an_idempotency_key_is_refused_and_credits_nothing(
    api: Api,
) -> None:
    ada = await api.customer()
    body = {"customer_id": ada, "amount": 500}

    for _ in range(2):  # a client retrying a request whose answer it lost
        response = await api.client.post("/wallet/top-ups", json=body, headers=api.admin)
        assert response.status == 400
        assert response.content_type == PROBLEM_JSON

    assert (await api.wallet(ada))["balance"] == 0
    document = await api.ok(await api.client.get("/openapi.json"))
    top_up = document["paths"]["/wallet/top-ups"]["post"]
    key = [p for p in top_up["parameters"] if p["name"] == "Idempotency-Key"]
    assert key and key[0]["required"] is True
