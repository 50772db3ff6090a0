"""Fixtures of the checkout tests: the app on a real port, tokens, and a few API helpers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from services.checkout_api.app import create_app
from shared.config import Settings
from shared.http.auth import mint_token
from shared.http.lifecycle import DATABASE
from shared.workqueue import create_work_queue
from shared.workqueue.base import admin
from tests.support.audit import money_audit_fixture
from tests.support.http import bearer, serve

# The money invariants hold after every module of this folder (make audit).
audit_money = money_audit_fixture()


def checkout_settings(settings: Settings, **overrides: Any) -> Settings:
    """The session's settings with a work queue of this test's own (so counts are its own)."""
    values: dict[str, Any] = {
        "work_queue_name": f"checkout-{uuid.uuid4().hex[:10]}",
        "database_pool_max": 20,
        "outbox_poll_interval": 0.2,
        **overrides,
    }
    return settings.model_copy(update=values)


class Api:
    """A client of checkout_api speaking as admin or as a customer."""

    def __init__(self, client: TestClient[Any, Any], settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.admin = bearer(mint_token(settings.jwt_secret, "admin-1", "admin"))

    def as_customer(self, customer_id: str) -> dict[str, str]:
        return bearer(mint_token(self.settings.jwt_secret, customer_id, "customer"))

    async def ok(self, response: ClientResponse, status: int = 200) -> Any:
        body = await response.json(content_type=None)
        assert response.status == status, body
        return body

    async def product(self, name: str = "Tea", price: int = 1999) -> str:
        body = await self.ok(
            await self.client.post(
                "/products", json={"name": name, "price": price}, headers=self.admin
            ),
            201,
        )
        return str(body["id"])

    async def customer(self, name: str = "Ada", referrer_id: str | None = None, **kw: Any) -> str:
        payload = {"name": name, "referrer_id": referrer_id, **kw}
        response = await self.client.post("/customers", json=payload, headers=self.admin)
        return str((await self.ok(response, 201))["id"])

    async def top_up(self, customer_id: str, amount: int) -> int:
        response = await self.client.post(
            "/wallet/top-ups",
            json={"customer_id": customer_id, "amount": amount},
            headers={**self.admin, "Idempotency-Key": str(uuid.uuid4())},
        )
        return int((await self.ok(response, 201))["balance"])

    async def add(self, customer_id: str, product_id: str, quantity: int = 1) -> Any:
        response = await self.client.post(
            "/carts/me/items",
            json={"product_id": product_id, "quantity": quantity},
            headers=self.as_customer(customer_id),
        )
        return await self.ok(response)

    async def checkout(
        self, customer_id: str, body: Any = None, key: str | None = None
    ) -> ClientResponse:
        headers = {**self.as_customer(customer_id), "Idempotency-Key": key or str(uuid.uuid4())}
        return await self.client.post("/checkout", json=body, headers=headers)

    async def wallet(self, customer_id: str) -> Any:
        response = await self.client.get("/wallet", headers=self.as_customer(customer_id))
        return await self.ok(response)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    test_settings = checkout_settings(settings)
    app = create_app(test_settings)
    async with serve(app) as client:
        await app[DATABASE].wait_ready(timeout=10)
        yield Api(client, test_settings)
    queue = create_work_queue(test_settings)
    try:
        await admin(queue).delete_everything()
    finally:
        await queue.close()
