"""Idempotency-Key: replay, conflicting reuse, concurrent duplicates, expiry."""

from __future__ import annotations

import asyncio
import time
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
            # A slow effect widens any race; a body may ask for a slower one.
            await conn.execute("SELECT pg_sleep($1)", float(data.get("sleep", 0.05)))
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
    # Each duplicate is either told the first is still running (409) or, once the first has
    # committed, replays its response.
    assert {r.status for r in responses} <= {201, 409}
    done = [await r.json() for r in responses if r.status == 201]
    assert done and all(body == done[0] for body in done)
    assert await count(db, widgets) == 1
    replay = await client.post("/widgets", json={"name": "c"}, headers=headers)
    assert (replay.status, await replay.json()) == (201, done[0])


async def test_duplicates_of_a_request_in_flight_are_refused_at_once_without_taking_the_pool(
    settings: Settings, widgets: str
) -> None:
    small = Database(settings.database_url, max_size=3, acquire_timeout=1.0)
    await small.start()
    await small.wait_ready(timeout=10)
    app = make_app(settings, small, widgets, ttl=3600)
    slow = {"name": "s", "sleep": 2.5}
    try:
        async with serve(app) as client:
            headers = {"Idempotency-Key": "k-storm"}
            first = asyncio.create_task(client.post("/widgets", json=slow, headers=headers))

            async def in_flight() -> bool:
                return await count(small, widgets) == 0 and await _key_in_flight(small, widgets)

            await eventually(in_flight, timeout=5, what="the first request in flight")
            started = time.monotonic()
            storm = await asyncio.gather(
                *(client.post("/widgets", json=slow, headers=headers) for _ in range(40))
            )
            storm_seconds = time.monotonic() - started
            # The pool still serves other work while the first request runs.
            other = await client.post(
                "/widgets", json={"name": "o"}, headers={"Idempotency-Key": "k-other-fast"}
            )
            assert not first.done()
            assert [r.status for r in storm] == [409] * 40
            for response in storm:
                assert response.content_type == PROBLEM_JSON
                assert int(response.headers["Retry-After"]) >= 1
            assert storm_seconds < 1.5
            assert other.status == 201
            assert (await first).status == 201
        assert await count(small, widgets) == 2  # the first and the other: one effect each
    finally:
        await small.close()


async def _key_in_flight(db: Database, schema: str) -> bool:
    """True while the slow effect runs (its key row is not visible yet)."""
    async with db.acquire() as conn:
        return bool(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND query LIKE 'SELECT pg_sleep%' AND state = 'active'"
            )
        )


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


async def test_a_transaction_that_loses_a_deadlock_runs_again_and_both_succeed(
    settings: Settings, db: Database, widgets: str
) -> None:
    """Two requests lock the same two rows in opposite order: PostgreSQL aborts one of them
    (deadlock detected); it is run again, so both answer 201 and no client sees 503."""
    async with db.acquire() as conn:
        await conn.execute(f"INSERT INTO {widgets}.widgets (id, name) VALUES (1, 'a'), (2, 'b')")

    async def lock_both(request: web.Request) -> web.Response:
        data = await read_json(request)

        async def effect(conn: Any) -> tuple[int, Any]:
            for i, row in enumerate(data["order"]):
                await conn.execute(f"SELECT 1 FROM {widgets}.widgets WHERE id = $1 FOR UPDATE", row)
                if i == 0:
                    await conn.execute("SELECT pg_sleep(0.3)")  # both hold their first row
            return 201, {"order": data["order"]}

        return await idempotent(request, db, widgets, "p1", effect, ttl=3600)

    app = create_base_app("idempotency-test", settings)
    app.router.add_post("/lock", lock_both)
    async with serve(app) as client:
        responses = await asyncio.gather(
            client.post("/lock", json={"order": [1, 2]}, headers={"Idempotency-Key": "d1"}),
            client.post("/lock", json={"order": [2, 1]}, headers={"Idempotency-Key": "d2"}),
        )
    assert [r.status for r in responses] == [201, 201]
    async with db.acquire() as conn:
        keys = await conn.fetchval(
            f"SELECT count(*) FROM {widgets}.idempotency_keys WHERE status = 201"
        )
    assert keys == 2
