"""The queue dashboard in a real headless browser: a failed reward job is retried by a click
after the operator enters an admin token once per tab; a page of another origin cannot."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from services.reward_worker.app import create_app
from shared.config import Settings
from shared.http.auth import mint_token
from shared.storage.pool import Database
from shared.workqueue import create_work_queue
from shared.workqueue.base import admin
from tests.integration.rewards.conftest import create_chain, create_transactions, reward_job
from tests.support.http import serve
from tests.support.proxy import TcpProxy
from tests.support.wait import eventually

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason=f"Chromium is not installed at {CHROMIUM}"
)


@pytest.fixture
async def database_proxy(settings: Settings) -> AsyncIterator[TcpProxy]:
    parts = urlsplit(settings.database_url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    yield proxy
    await proxy.close()


@pytest.mark.parametrize("backend", ["redis", "amqp"])
async def test_a_failed_reward_job_is_retried_from_the_dashboard_and_completes(
    worker_settings: Settings, db: Database, database_proxy: TcpProxy, backend: str
) -> None:
    from playwright.async_api import async_playwright, expect

    parts = urlsplit(worker_settings.database_url)
    worker_settings = worker_settings.model_copy(
        update={
            "database_url": urlunsplit(
                parts._replace(netloc=f"{parts.username}@127.0.0.1:{database_proxy.port}")
            ),
            "work_queue_backend": backend,
            "work_queue_max_attempts": 2,
            "work_queue_backoff_base": 0.1,
        }
    )
    async with db.transaction() as conn:
        chain = await create_chain(conn, 3)
        (tx,) = await create_transactions(conn, [(chain.buyer, 10_000)])

    async def rewards_done() -> bool:
        async with db.acquire() as conn:
            status = await conn.fetchval(
                "SELECT rewards_status FROM checkout.transactions WHERE id = $1", tx
            )
        return bool(status == "done")

    producer = create_work_queue(worker_settings)
    app = create_app(worker_settings)
    try:
        async with serve(app) as client, async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            # The database goes away: the job fails both attempts and lands in the failed set.
            await eventually(lambda: _ready(client), timeout=20, what="the worker to be ready")
            await database_proxy.down()
            await producer.enqueue(
                "CHECKOUT_COMPLETED", reward_job(tx, chain.buyer, 10_000), job_id=str(tx)
            )
            assert not await rewards_done()
            context = await browser.new_context()
            page = await context.new_page()
            await page.goto(str(client.make_url("/dashboard")))
            # The page asks for a token first; a user's token is refused, an admin's opens it.
            await expect(page.locator("#board")).to_be_hidden()
            await page.fill("#token", mint_token(worker_settings.jwt_secret, "ops", "user"))
            await page.get_by_role("button", name="Open").click()
            await expect(page.locator("#login-error")).to_contain_text("admin")
            await page.fill("#token", mint_token(worker_settings.jwt_secret, "ops", "admin"))
            await page.get_by_role("button", name="Open").click()
            await expect(page.locator("#board")).to_be_visible()
            row = page.locator(f'#failed tr[data-job-id="{tx}"]')
            await expect(row).to_be_visible(timeout=20_000)
            await expect(row).to_contain_text("CHECKOUT_COMPLETED")

            await row.get_by_role("button", name=str(tx)).click()
            await expect(page.locator("#job-detail")).to_contain_text('"attempts": 2')

            # The database is back; the operator clicks retry and watches the job complete.
            await database_proxy.up()
            await row.get_by_role("button", name="retry").click()
            await expect(row).to_have_count(0, timeout=20_000)
            await expect(page.locator("#empty")).to_be_visible()
            if backend == "redis":
                completed = page.locator('.count[data-state="completed"] b')
                await expect(completed).to_have_text("1", timeout=10_000)
            # Once per tab: a reload keeps the token, a new tab asks again.
            await page.reload()
            await expect(page.locator("#board")).to_be_visible()
            other_tab = await context.new_page()
            await other_tab.goto(str(client.make_url("/dashboard")))
            await expect(other_tab.locator("#login")).to_be_visible()
            await expect(other_tab.locator("#board")).to_be_hidden()
            await browser.close()
        await eventually(rewards_done, timeout=20, what="the checkout's rewards to be done")
    finally:
        await admin(producer).delete_everything()
        await producer.close()


async def _ready(client: TestClient[web.Request, web.Application]) -> bool:
    response = await client.get("/readyz")
    return bool(response.status == 200)
