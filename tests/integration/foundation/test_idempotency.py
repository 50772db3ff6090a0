"""Idempotency-Key: replay, conflicting reuse, concurrent duplicates, expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from shared.config import Settings
from shared.http.app import PROBLEM_JSON, create_base_app
from shared.http.idempotency import idempotent, purge_expired
from shared.http.validation import read_json
from shared.storage.pool import Database
from tests.support.http import serve
from tests.support.wait import eventually

Client = TestClient[web.Request, web.Application]


def make_app(settings: Settings, db: Database, schema: str, ttl: float) -> web.Application:
    async def create_widget(request: web.Request) -> web.Response:
        data = await read_json(request)

        async def effect(conn: Any) -> tuple[int, Any]:
            await conn.execute("SELECT pg_sleep(0.05)")  # a slow effect widens any race
            widget_id = await conn.fetchval(
                f"INSERT INTO {schema}.widgets (name) VALUES ($1) RETURNING id", data["name"]
            )
            return 201, {"id": widget_id, "name": data["name"]}

        principal = request.headers.get("X-Principal", "p1")
        return await idempotent(request, db, schema, principal, effect, ttl=ttl)

    app = create_base_app("idempotency-test", settings)
    app.router.add_post("/widgets", create_widget)
    return app


@pytest.fixture
async def widgets(db: Database, schema: str) -> str:
    async with db.acquire() as conn:
        await conn.execute(f"CREATE TABLE {schema}.widgets (id serial PRIMARY KEY, name text)")
    return schema


@pytest.fixture
async def client(settings: Settings, db: Database, widgets: str) -> AsyncIterator[Client]:
    async with serve(make_app(settings, db, widgets, ttl=3600)) as client:
        yield client


async def count(db: Database, schema: str) -> int:
    async with db.acquire() as conn:
        return int(await conn.fetchval(f"SELECT count(*) FROM {schema}.widgets"))


async def test_a_replay_returns_the_first_response(
    client: Client, db: Database, widgets: str
) -> None:
    headers = {"Idempotency-Key": "k-1"}
    first = await client.post("/widgets", json={"name": "a"}, headers=headers)
    second = await client.post("/widgets", json={"name": "a"}, headers=headers)
    assert (first.status, second.status) == (201, 201)
    assert await first.json() == await second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await count(db, widgets) == 1


async def test_the_same_key_with_another_body_is_422(
    client: Client, db: Database, widgets: str
) -> None:
    headers = {"Idempotency-Key": "k-2"}
    assert (await client.post("/widgets", json={"name": "a"}, headers=headers)).status == 201
    other = await client.post("/widgets", json={"name": "b"}, headers=headers)
    assert other.status == 422
    assert other.content_type == PROBLEM_JSON
    assert await count(db, widgets) == 1


async def test_keys_belong_to_their_principal(client: Client, db: Database, widgets: str) -> None:
    for principal in ("alice", "bob"):
        headers = {"Idempotency-Key": "shared-key", "X-Principal": principal}
        assert (await client.post("/widgets", json={"name": "a"}, headers=headers)).status == 201
    assert await count(db, widgets) == 2


async def test_without_a_key_every_request_runs(client: Client, db: Database, widgets: str) -> None:
    for _ in range(2):
        assert (await client.post("/widgets", json={"name": "a"})).status == 201
    assert await count(db, widgets) == 2


async def test_an_oversized_key_is_400(client: Client) -> None:
    response = await client.post(
        "/widgets", json={"name": "a"}, headers={"Idempotency-Key": "k" * 256}
    )
    assert response.status == 400


async def test_thirty_concurrent_duplicates_have_one_effect(
    client: Client, db: Database, widgets: str
) -> None:
    headers = {"Idempotency-Key": "k-concurrent"}
    responses = await asyncio.gather(
        *(client.post("/widgets", json={"name": "c"}, headers=headers) for _ in range(30))
    )
    assert {r.status for r in responses} == {201}
    bodies = [await r.json() for r in responses]
    assert all(body == bodies[0] for body in bodies)
    assert await count(db, widgets) == 1


async def test_an_expired_key_runs_again(settings: Settings, db: Database, widgets: str) -> None:
    headers = {"Idempotency-Key": "k-expiring"}
    async with serve(make_app(settings, db, widgets, ttl=0.3)) as client:
        first = await (await client.post("/widgets", json={"name": "e"}, headers=headers)).json()

        async def ran_again() -> bool:
            response = await client.post("/widgets", json={"name": "e"}, headers=headers)
            return (
                "Idempotent-Replayed" not in response.headers
                and (await response.json())["id"] != first["id"]
            )

        await eventually(ran_again, timeout=5, interval=0.1, what="a fresh run after expiry")
    assert await count(db, widgets) == 2


async def test_purge_removes_only_expired_keys(
    settings: Settings, db: Database, widgets: str
) -> None:
    async with serve(make_app(settings, db, widgets, ttl=0.2)) as client:
        await client.post("/widgets", json={"name": "x"}, headers={"Idempotency-Key": "short"})
    async with serve(make_app(settings, db, widgets, ttl=3600)) as client:
        await client.post("/widgets", json={"name": "y"}, headers={"Idempotency-Key": "long"})

    async def purged() -> bool:
        return await purge_expired(db, widgets) == 1

    await eventually(purged, timeout=5, interval=0.1, what="the short key purged")
    async with db.acquire() as conn:
        keys = [r["key"] for r in await conn.fetch(f"SELECT key FROM {widgets}.idempotency_keys")]
    assert keys == ["long"]
