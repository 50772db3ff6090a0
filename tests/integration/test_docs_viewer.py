"""/docs is Swagger UI from the swagger-ui-bundle-v2 package: its files are served by the
service itself, and in a real browser "Authorize" then "Execute" sends the bearer token."""

from __future__ import annotations

import shutil

import pytest
from aiohttp import web
from swagger_ui_bundle import swagger_ui_path

from shared.http.docs_viewer import ASSETS, POLICY, SERVED
from shared.http.openapi import add_openapi, operation
from tests.support.http import serve
from tests.support.wait import eventually

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def docs_app(seen: list[str | None]) -> web.Application:
    @operation("Who the caller is")
    async def whoami(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/whoami", whoami)
    add_openapi(app, "Docs test API")
    return app


async def test_the_page_and_its_assets_come_from_the_service() -> None:
    async with serve(docs_app([])) as client:
        page = await client.get("/docs")
        assert page.status == 200 and page.headers["Content-Security-Policy"] == POLICY
        text = await page.text()
        assert "http" not in text.replace("href='/openapi.json'", "")  # no CDN, no host
        assert "<code>GET /whoami</code> Who the caller is" in text  # the no-script list
        for name in SERVED:
            assert f"{ASSETS}/{name}" in text or name.endswith(".png")
            asset = await client.get(f"{ASSETS}/{name}")
            assert asset.status == 200
            assert await asset.read() == (swagger_ui_path / name).read_bytes()
            assert "immutable" in asset.headers["Cache-Control"]
        script = await client.get(f"{ASSETS}/suite-docs.js")
        assert 'url: "/openapi.json"' in await script.text()
        for other in ("index.j2", "..%2F__init__.py", "oauth2-redirect.html"):
            assert (await client.get(f"{ASSETS}/{other}")).status == 404


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"no Chromium at {CHROMIUM}")
async def test_try_it_out_sends_the_bearer_token_given_to_authorize() -> None:
    from playwright.async_api import async_playwright, expect

    seen: list[str | None] = []
    async with serve(docs_app(seen)) as client, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            outside: list[str] = []
            page.on("request", lambda r: outside.append(r.url) if not local(r.url) else None)
            await page.goto(str(client.make_url("/docs")))
            await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Docs test API")
            await page.locator(".swagger-ui .btn.authorize").click()
            await page.locator(".auth-container input").fill("a.test.token")
            await page.locator(".auth-btn-wrapper .btn.modal-btn.auth.authorize").click()
            await page.locator(".auth-btn-wrapper .btn-done").click()
            await page.locator(".opblock-summary", has_text="/whoami").click()
            await page.locator(".btn.execute").click()

            async def sent() -> bool:
                return bool(seen)

            await eventually(sent, timeout=20, what="the request of Try it out")
            assert seen == ["Bearer a.test.token"]
            await expect(page.locator(".live-responses-table")).to_contain_text("200")
            assert outside == []
        finally:
            await browser.close()


def local(url: str) -> bool:
    return url.startswith(("http://127.0.0.1", "http://localhost", "data:"))
