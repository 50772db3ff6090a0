"""The queue dashboard lets in only an admin, on its own host name, from its own page."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from services.reward_worker.app import create_app
from shared.config import Settings
from shared.http.auth import mint_token
from tests.support.http import bearer, serve

PROBLEM = "application/problem+json"
ROUTES = [
    ("GET", "/dashboard/api/status"),
    ("GET", "/dashboard/api/failed"),
    ("GET", "/dashboard/api/jobs/some-job"),
    ("POST", "/dashboard/api/jobs/some-job/retry"),
    ("DELETE", "/dashboard/api/jobs/some-job"),
    ("GET", "/dashboard/api/jobs?state=failed"),
    ("POST", "/dashboard/api/jobs/some-job/promote"),
    ("GET", "/dashboard/api/error-classes"),
    ("POST", "/dashboard/api/retry-class"),
    ("POST", "/dashboard/api/clean"),
    ("POST", "/dashboard/api/pause"),
    ("POST", "/dashboard/api/resume"),
    ("GET", "/dashboard/api/chart"),
    ("GET", "/dashboard/api/schedules"),
    ("DELETE", "/dashboard/api/schedules/some-schedule"),
    ("GET", "/dashboard/api/owed"),
    ("POST", "/dashboard/api/owed/requeue"),
    ("GET", "/dashboard/api/dead-letters"),
    ("POST", "/dashboard/api/dead-letters/booking-request/redrive"),
]
# Routes whose admin call would act on state other tests share (the session's database and
# SQS queues): only their refusals are checked here; the console's own tests run them.
SHARED_EFFECTS = {
    ("POST", "/dashboard/api/owed/requeue"),
    ("POST", "/dashboard/api/dead-letters/booking-request/redrive"),
}


@pytest.fixture
async def dashboard(worker_settings: Settings) -> AsyncIterator[Any]:
    settings = worker_settings.model_copy(
        update={"dashboard_allowed_hosts": ["queue.ops.example", "board.ops.example:8443"]}
    )
    async with serve(create_app(settings)) as client:
        client.admin = bearer(mint_token(settings.jwt_secret, "ops", "admin"))
        yield client


async def answer(client: Any, method: str, path: str, **headers: str) -> tuple[int, str]:
    async with client.request(method, path, headers=headers) as response:
        await response.read()
        return response.status, response.content_type


async def test_every_json_route_needs_an_admin_token(
    dashboard: Any, worker_settings: Settings
) -> None:
    user = bearer(mint_token(worker_settings.jwt_secret, "ops", "user"))
    forged = bearer(mint_token("another-key-" + "k" * 40, "ops", "admin"))
    for method, path in ROUTES:
        assert await answer(dashboard, method, path) == (401, PROBLEM), path
        assert await answer(dashboard, method, path, **forged) == (401, PROBLEM), path
        assert await answer(dashboard, method, path, **user) == (403, PROBLEM), path
        if (method, path) in SHARED_EFFECTS:
            continue
        status, _ = await answer(dashboard, method, path, **dashboard.admin)
        assert status in (200, 400, 404), (path, status)  # 400: an action without its body
    # The page itself holds no data: it loads without a token and asks for one.
    async with dashboard.get("/dashboard") as response:
        assert response.status == 200
        assert 'id="token"' in await response.text()
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example", "Content-Type": "text/plain"},
        {"Origin": "null", "Content-Type": "text/plain"},
        {"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"},
        # Another port of localhost is the same site but not the same origin.
        {"Sec-Fetch-Site": "same-site"},
    ],
)
async def test_a_request_from_another_origin_is_refused_even_with_a_token(
    dashboard: Any, headers: dict[str, str]
) -> None:
    for method, path in ROUTES:
        status, content_type = await answer(dashboard, method, path, **headers, **dashboard.admin)
        assert (status, content_type) == (403, PROBLEM), (method, path)
        assert (await answer(dashboard, method, path, **headers))[0] == 403


async def test_the_dashboards_own_page_and_a_typed_address_are_let_in(dashboard: Any) -> None:
    own = f"http://127.0.0.1:{dashboard.port}"
    for headers in (
        {"Origin": own, "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
        {},
    ):
        status, _ = await answer(
            dashboard, "GET", "/dashboard/api/status", **headers, **dashboard.admin
        )
        assert status == 200, headers
    # A person following a link from another site still gets the page (never its data).
    status, _ = await answer(
        dashboard,
        "GET",
        "/dashboard",
        **{
            "Sec-Fetch-Site": "cross-site",
            "Sec-Fetch-Mode": "navigate",
            "Sec-Fetch-Dest": "document",
        },
    )
    assert status == 200
    status, _ = await answer(
        dashboard, "GET", "/dashboard", **{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}
    )
    assert status == 403


async def test_a_host_header_that_is_not_the_services_own_is_refused(dashboard: Any) -> None:
    port = dashboard.port
    refused = [
        "evil.example",
        f"evil.example:{port}",
        f"127.0.0.1:{port + 1}",
        "localhost",
        f"queue.ops.example.evil.example:{port}",
        "board.ops.example:9999",
        "",
    ]
    allowed = [
        f"127.0.0.1:{port}",
        f"localhost:{port}",
        f"LOCALHOST:{port}",
        f"[::1]:{port}",
        "queue.ops.example",
        "queue.ops.example:443",
        "board.ops.example:8443",
    ]
    for host in refused:
        for method, path in [("GET", "/dashboard"), *ROUTES]:
            status, content_type = await answer(
                dashboard, method, path, Host=host, **dashboard.admin
            )
            assert (status, content_type) == (403, PROBLEM), (host, path)
    for host in allowed:
        status, _ = await answer(
            dashboard, "GET", "/dashboard/api/status", Host=host, **dashboard.admin
        )
        assert status == 200, host


@pytest.mark.parametrize("limit", ["0", "-1", "x", "1.5", "501", "1" + "0" * 30, ""])
async def test_a_limit_outside_one_to_five_hundred_is_a_422(dashboard: Any, limit: str) -> None:
    async with dashboard.get(
        "/dashboard/api/failed", params={"limit": limit}, headers=dashboard.admin
    ) as response:
        assert response.status == 422
        assert response.content_type == PROBLEM
        assert (await response.json())["status"] == 422


@pytest.mark.parametrize("limit", ["1", "500"])
async def test_a_limit_within_bounds_lists_failed_jobs(dashboard: Any, limit: str) -> None:
    async with dashboard.get(
        "/dashboard/api/failed", params={"limit": limit}, headers=dashboard.admin
    ) as response:
        assert response.status == 200
        assert (await response.json())["jobs"] == []


CHROMIUM = "/usr/bin/chromium"
ATTACK = """<!doctype html><script>
fetch(TARGET, {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"},
               body: "{}"});
</script>"""


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Chromium is not installed")
async def test_a_page_of_another_origin_cannot_post_to_the_dashboard(dashboard: Any) -> None:
    from playwright.async_api import async_playwright

    from tests.integration.rewards.test_dashboard import CHROMIUM_ARGS

    target = str(dashboard.make_url("/dashboard/api/jobs/some-job/retry"))

    async def page(request: web.Request) -> web.Response:
        html = ATTACK.replace("TARGET", repr(target))
        return web.Response(text=html, content_type="text/html")

    evil = web.Application()
    evil.router.add_get("/", page)
    async with serve(evil) as attacker, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = await browser.new_page()
        async with tab.expect_response(target) as caught:
            await tab.goto(str(attacker.make_url("/")))
        response = await caught.value
        assert response.status == 403
        await browser.close()
