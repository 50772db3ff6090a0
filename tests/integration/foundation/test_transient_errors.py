"""Deadlocks, serialization failures and a read-only database are 503 with Retry-After."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from services.checkout_api.app import create_app
from shared.config import Settings
from shared.http.app import PROBLEM_JSON, create_base_app
from shared.http.auth import mint_token
from shared.http.lifecycle import DATABASE
from shared.storage.pool import Database
from tests.support.http import bearer, serve

Client = TestClient[web.Request, web.Application]


class Rendezvous:
    """Lets two requests meet between their statements, so their interleaving is fixed."""

    def __init__(self) -> None:
        self.arrived = 0
        self.both = asyncio.Event()

    async def meet(self) -> None:
        self.arrived += 1
        if self.arrived == 2:
            self.both.set()
        await asyncio.wait_for(self.both.wait(), 10)


def make_app(settings: Settings, db: Database, schema: str) -> web.Application:
    rendezvous = {"deadlock": Rendezvous(), "serialization": Rendezvous()}

    async def transfer(request: web.Request) -> web.Response:
        """Lock account `first`, meet the other request, then lock account `second`."""
        first, second = request.query["first"], request.query["second"]
        async with db.transaction() as conn:
            await conn.execute(f"UPDATE {schema}.accounts SET n = n + 1 WHERE id = $1", first)
            await rendezvous["deadlock"].meet()
            await conn.execute(f"UPDATE {schema}.accounts SET n = n + 1 WHERE id = $1", second)
        return web.json_response({"ok": True})

    async def increment(request: web.Request) -> web.Response:
        """Read, meet the other request, then write the row both read (repeatable read)."""
        async with db.transaction(isolation="repeatable_read") as conn:
            await conn.fetchval(f"SELECT n FROM {schema}.accounts WHERE id = 'a'")
            await rendezvous["serialization"].meet()
            await conn.execute(f"UPDATE {schema}.accounts SET n = n + 1 WHERE id = 'a'")
        return web.json_response({"ok": True})

    app = create_base_app("transient-test", settings)
    app.router.add_post("/transfer", transfer)
    app.router.add_post("/increment", increment)
    return app


@pytest.fixture
async def client(settings: Settings, db: Database, schema: str) -> AsyncIterator[Client]:
    async with db.acquire() as conn:
        await conn.execute(
            f"CREATE TABLE {schema}.accounts (id text PRIMARY KEY, n int NOT NULL DEFAULT 0)"
        )
        await conn.execute(f"INSERT INTO {schema}.accounts (id) VALUES ('a'), ('b')")
    async with serve(make_app(settings, db, schema)) as client:
        yield client


async def assert_retry_later(response: ClientResponse) -> None:
    assert response.status == 503
    assert response.content_type == PROBLEM_JSON
    assert int(response.headers["Retry-After"]) >= 1
    body = await response.json()
    assert body["status"] == 503


async def test_the_loser_of_a_deadlock_is_told_to_retry_with_a_503(client: Client) -> None:
    responses = await asyncio.gather(
        client.post("/transfer?first=a&second=b"), client.post("/transfer?first=b&second=a")
    )
    assert sorted(r.status for r in responses) == [200, 503]
    await assert_retry_later(next(r for r in responses if r.status == 503))


async def test_a_serialization_failure_is_told_to_retry_with_a_503(client: Client) -> None:
    responses = await asyncio.gather(client.post("/increment"), client.post("/increment"))
    assert sorted(r.status for r in responses) == [200, 503]
    await assert_retry_later(next(r for r in responses if r.status == 503))


async def _set_read_only(settings: Settings, on: bool) -> None:
    name = settings.database_url.rsplit("/", 1)[-1]
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute("SET default_transaction_read_only = off")  # this session writes
        if on:
            await conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        else:
            await conn.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
    finally:
        await conn.close()


async def test_a_write_to_a_read_only_database_is_a_503_not_a_500(settings: Settings) -> None:
    """As during a failover, when the server the pool reaches has become a read-only standby."""
    await _set_read_only(settings, True)
    try:
        app = create_app(settings)  # its connections open now, so they are read-only
        async with serve(app) as client:
            await app[DATABASE].wait_ready(timeout=10)
            admin = bearer(mint_token(settings.jwt_secret, "admin-1", "admin"))
            response = await client.post(
                "/products",
                json={"name": f"Tea {uuid.uuid4().hex[:6]}", "price": 100},
                headers={**admin, "Idempotency-Key": str(uuid.uuid4())},
            )
            await assert_retry_later(response)
    finally:
        await _set_read_only(settings, False)
