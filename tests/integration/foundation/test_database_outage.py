"""The pool starts while PostgreSQL is down, answers 503 during outages, and recovers."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from shared.config import Settings
from shared.http.app import PROBLEM_JSON, create_base_app
from shared.http.lifecycle import DATABASE, use_database
from tests.integration.foundation.conftest import through
from tests.support.http import serve
from tests.support.proxy import TcpProxy
from tests.support.wait import eventually


async def answer(request: web.Request) -> web.Response:
    async with request.app[DATABASE].acquire() as conn:
        value = await conn.fetchval("SELECT 41 + 1")
    return web.json_response({"answer": value})


def make_app(settings: Settings, proxy: TcpProxy, **overrides: Any) -> web.Application:
    settings = settings.model_copy(
        update={"database_url": through(settings.database_url, proxy), **overrides}
    )
    app = create_base_app("outage-test", settings)
    use_database(app, settings)
    app.router.add_get("/answer", answer)
    return app


async def assert_unavailable(response: Any) -> None:
    assert response.status == 503
    assert response.content_type == PROBLEM_JSON
    body = await response.json()
    assert body["status"] == 503
    assert "Traceback" not in str(body)
    assert int(response.headers["Retry-After"]) >= 1


async def test_app_starts_while_the_database_is_down_and_recovers_by_itself(
    settings: Settings, pg_proxy: TcpProxy
) -> None:
    await pg_proxy.down()
    async with serve(make_app(settings, pg_proxy)) as client:
        assert (await client.get("/healthz")).status == 200
        await assert_unavailable(await client.get("/answer"))
        await assert_unavailable(await client.get("/readyz"))
        await pg_proxy.up()

        async def answered() -> bool:
            response = await client.get("/answer")
            return response.status == 200 and (await response.json()) == {"answer": 42}

        await eventually(answered, timeout=15, what="first answer after the outage")
        assert (await client.get("/readyz")).status == 200


async def test_an_outage_after_start_is_503_and_heals(
    settings: Settings, pg_proxy: TcpProxy
) -> None:
    async with serve(make_app(settings, pg_proxy)) as client:

        async def answered() -> bool:
            return (await client.get("/answer")).status == 200

        await eventually(answered, timeout=10, what="answer before the outage")
        await pg_proxy.down()
        for _ in range(3):  # every pooled connection is dead: each attempt is a clean 503
            await assert_unavailable(await client.get("/answer"))
        await assert_unavailable(await client.get("/readyz"))
        await pg_proxy.up()
        await eventually(answered, timeout=15, what="answer after the outage")
        assert (await client.get("/readyz")).status == 200


async def test_a_database_slower_than_the_command_timeout_is_503_not_500(
    settings: Settings, pg_proxy: TcpProxy
) -> None:
    app = make_app(settings, pg_proxy, database_command_timeout=0.3)
    async with serve(app) as client:

        async def answered() -> bool:
            return (await client.get("/answer")).status == 200

        await eventually(answered, timeout=10, what="answer before the slowdown")
        pg_proxy.delay = 0.6
        await assert_unavailable(await client.get("/answer"))
        pg_proxy.delay = 0.0
        await eventually(answered, timeout=15, what="answer after the slowdown")
