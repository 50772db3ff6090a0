"""The app factory: problem+json for every failure, metrics, health and readiness."""

from __future__ import annotations

import io

from aiohttp import web
from pydantic import BaseModel, Field

from shared.config import Settings
from shared.errors import Conflict, NotFound
from shared.http.app import PROBLEM_JSON, add_readiness_check, create_base_app
from shared.http.validation import parse_body
from tests.support.http import serve


class Order(BaseModel):
    quantity: int = Field(gt=0)


async def create_order(request: web.Request) -> web.Response:
    order = await parse_body(request, Order)
    return web.json_response({"quantity": order.quantity}, status=201)


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("secret internal detail")


async def missing(request: web.Request) -> web.Response:
    raise NotFound("order", request.match_info["id"])


async def conflict(request: web.Request) -> web.Response:
    raise Conflict("already taken")


def make_app(settings: Settings) -> web.Application:
    app = create_base_app("test", settings)
    app.router.add_post("/orders", create_order)
    app.router.add_get("/orders/{id}", missing)
    app.router.add_get("/boom", boom)
    app.router.add_post("/conflict", conflict)
    return app


async def assert_problem(response, status: int) -> dict:
    assert response.status == status
    assert response.content_type == PROBLEM_JSON
    body = await response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["type"].startswith("https://")
    return body


async def test_unknown_route_is_a_problem_404(settings: Settings) -> None:
    async with serve(make_app(settings)) as client:
        await assert_problem(await client.get("/nope"), 404)


async def test_wrong_method_is_a_problem_405_with_allow(settings: Settings) -> None:
    async with serve(make_app(settings)) as client:
        response = await client.delete("/orders")
        await assert_problem(response, 405)
        assert "POST" in response.headers["Allow"]


async def test_malformed_json_is_a_problem_400(settings: Settings) -> None:
    async with serve(make_app(settings)) as client:
        await assert_problem(await client.post("/orders", data=b"{not json"), 400)
        await assert_problem(await client.post("/orders", data=b""), 400)


async def test_invalid_body_is_a_problem_422_naming_the_field(settings: Settings) -> None:
    async with serve(make_app(settings)) as client:
        body = await assert_problem(await client.post("/orders", json={"quantity": 0}), 422)
        assert body["errors"][0]["loc"] == ["quantity"]
        await assert_problem(await client.post("/orders", json=[1, 2]), 422)


async def test_domain_errors_keep_their_status(settings: Settings) -> None:
    async with serve(make_app(settings)) as client:
        body = await assert_problem(await client.get("/orders/42"), 404)
        assert body["detail"] == "order 42 does not exist"
        assert body["instance"] == "/orders/42"
        await assert_problem(await client.post("/conflict"), 409)


async def test_unexpected_error_is_a_500_without_a_stack_trace(settings: Settings) -> None:
    async with serve(make_app(settings)) as client:
        response = await client.get("/boom")
        body = await assert_problem(response, 500)
        text = str(body)
        assert "secret internal detail" not in text
        assert "Traceback" not in text


async def test_too_large_body_is_a_problem_413(settings: Settings) -> None:
    async with serve(make_app(settings)) as client:
        await assert_problem(
            await client.post("/orders", data=io.BytesIO(b"x" * (2 * 1024 * 1024))), 413
        )


async def test_metrics_count_requests_by_route_template(settings: Settings) -> None:
    async with serve(make_app(settings)) as client:
        await client.get("/orders/abc")
        await client.get("/orders/def")
        response = await client.get("/metrics")
        assert response.status == 200
        text = await response.text()
    line = 'http_requests_total{method="GET",route="/orders/{id}",status="404"}'
    assert line in text
    assert (
        'http_request_duration_seconds_bucket{le="0.001",method="GET",route="/orders/{id}"' in text
    )


async def test_correlation_id_is_echoed_or_created(settings: Settings) -> None:
    async with serve(make_app(settings)) as client:
        given = await client.get("/healthz", headers={"X-Correlation-ID": "abc-123"})
        assert given.headers["X-Correlation-ID"] == "abc-123"
        created = await client.get("/healthz")
        assert len(created.headers["X-Correlation-ID"]) == 36


async def test_readyz_reports_each_dependency(settings: Settings) -> None:
    app = make_app(settings)
    healthy = True

    async def flaky() -> None:
        if not healthy:
            raise ConnectionRefusedError("connection refused")

    add_readiness_check(app, "flaky", flaky)
    async with serve(app) as client:
        ready = await client.get("/readyz")
        assert ready.status == 200
        assert (await ready.json())["checks"] == {"flaky": "up"}
        healthy = False
        body = await assert_problem(await client.get("/readyz"), 503)
        assert body["checks"]["flaky"].startswith("down: ConnectionRefusedError")
        assert (await client.get("/healthz")).status == 200
