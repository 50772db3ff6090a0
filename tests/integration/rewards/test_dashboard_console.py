"""The console in headless Chromium, every action by a click: a job's events, retry, retry of
an error class, pause and resume, search and paging, promote, remove, clean, the chart, a
schedule removed, work owed by PostgreSQL re-enqueued, and dead letters redriven. Each
state is saved as a screenshot in .artifacts/dashboard/ (git-ignored) for a person to see."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from services.reward_worker.app import create_app
from shared.config import Settings
from shared.http.auth import mint_token
from shared.messaging.sqs import sqs_client
from shared.storage.pool import Database
from shared.workqueue import WorkQueue, create_work_queue
from shared.workqueue.base import admin
from shared.workqueue.history import journal_for
from shared.workqueue.schedules import Schedule
from tests.integration.rewards.conftest import create_chain, create_transactions
from tests.integration.rewards.test_dashboard import CHROMIUM, CHROMIUM_ARGS
from tests.support.http import serve
from tests.support.wait import eventually

ARTIFACTS = Path(__file__).resolve().parents[3] / ".artifacts" / "dashboard"

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason=f"Chromium is not installed at {CHROMIUM}"
)


async def test_every_console_action_works_from_the_browser(
    worker_settings: Settings, db: Database
) -> None:
    from playwright.async_api import async_playwright, expect

    settings = worker_settings.model_copy(
        update={"work_queue_backend": "redis", "work_queue_max_attempts": 1}
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    producer = create_work_queue(settings)
    app = create_app(settings)
    try:
        async with serve(app) as client, async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = await (
                await browser.new_context(viewport={"width": 1280, "height": 900})
            ).new_page()

            async def shot(name: str) -> None:
                await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

            def said(text: str) -> Any:
                return expect(page.locator("#action-result")).to_contain_text(text)

            # Jobs no handler takes fail for good at once; one error class has two of them.
            for n in range(3):
                await producer.enqueue("UNKNOWN_JOB", {"data": {"n": n}}, job_id=f"lost-{n}")
            await producer.enqueue("CHECKOUT_COMPLETED", {"not": "an envelope"}, job_id="bad")
            await page.goto(str(client.make_url("/dashboard")))
            await page.fill("#token", mint_token(settings.jwt_secret, "ops", "admin"))
            await page.get_by_role("button", name="Open").click()
            failed = page.locator("#failed tbody tr")
            await expect(failed).to_have_count(4, timeout=15_000)
            classes = page.locator("#classes .error-class")
            await expect(classes).to_have_count(2)
            await shot("1-failed")

            # A job's page: its payload, attempts and events with their worker.
            await (
                page.locator('#failed tr[data-job-id="lost-0"]')
                .get_by_role("button", name="lost-0")
                .click()
            )
            events = page.locator("#job-events tbody tr")
            await expect(events).to_have_count(3)
            await expect(page.locator('#job-events tr[data-event="claimed"]')).to_contain_text(":")
            await expect(page.locator("#job-detail")).to_contain_text('"n": 0')
            await shot("2-job")

            # Retry one, then every job of an error class (they fail again: no handler).
            await (
                page.locator('#failed tr[data-job-id="lost-1"]')
                .get_by_role("button", name="retry")
                .click()
            )
            await said("retry lost-1: done")
            await eventually(lambda: _failures(producer, "lost-1", 2), what="lost-1 to fail again")
            await (
                page.locator('.error-class[data-error-class="PermanentError"]')
                .get_by_role("button")
                .click()
            )
            await said("3 retried")
            for job_id, times in (("lost-0", 2), ("lost-1", 3), ("lost-2", 2)):
                await eventually(lambda j=job_id, t=times: _failures(producer, j, t))  # type: ignore[misc]

            # Paused, the queue takes nothing: new jobs wait, found by a payload field.
            await page.locator("#pause-toggle").click()
            await expect(page.locator("#paused-badge")).to_be_visible()
            for n in range(3):
                await producer.enqueue("UNKNOWN_JOB", {"data": {"n": 10 + n}}, job_id=f"wait-{n}")
            await producer.enqueue("UNKNOWN_JOB", {"data": {"n": 99}}, job_id="later", delay=600)
            await page.locator('.count[data-state="waiting"]').click()
            rows = page.locator("#jobs tbody tr")
            await expect(rows).to_have_count(3)
            await page.fill("#search-field", "data.n")
            await page.fill("#search-value", "11")
            await page.get_by_role("button", name="search", exact=True).click()
            await expect(rows).to_have_count(1)
            await expect(page.locator('#jobs tr[data-job-id="wait-1"]')).to_be_visible()
            await shot("3-paused-search")
            await page.get_by_role("button", name="clear").click()
            await expect(rows).to_have_count(3)

            # A delayed job is promoted; paused, it joins the waiting ones.
            await page.locator('.count[data-state="delayed"]').click()
            await expect(page.locator('#jobs tr[data-job-id="later"]')).to_be_visible()
            await (
                page.locator('#jobs tr[data-job-id="later"]')
                .get_by_role("button", name="promote")
                .click()
            )
            await said("promote later: done")
            await page.locator('.count[data-state="waiting"]').click()
            await expect(rows).to_have_count(4)
            # Two a page: the cursor of the first page leads to the other two.
            await page.select_option("#page-size", "2")
            await expect(rows).to_have_count(2)
            shown = set(await rows.evaluate_all("rs => rs.map(r => r.dataset.jobId)"))
            await page.get_by_role("button", name="next page").click()
            await expect(rows.first).not_to_have_attribute("data-job-id", min(shown))
            rest = set(await rows.evaluate_all("rs => rs.map(r => r.dataset.jobId)"))
            assert shown | rest == {"wait-0", "wait-1", "wait-2", "later"} and not shown & rest
            await expect(page.locator("#next-page")).to_be_disabled()
            await page.get_by_role("button", name="first page").click()

            # Resumed, the waiting jobs run (and fail); one failed job is removed.
            await page.locator("#pause-toggle").click()
            await expect(page.locator("#paused-badge")).to_be_hidden()
            await expect(failed).to_have_count(8, timeout=15_000)
            await (
                page.locator('#failed tr[data-job-id="bad"]')
                .get_by_role("button", name="remove")
                .click()
            )
            await said("remove bad: done")
            await expect(failed).to_have_count(7)
            await expect(page.locator("#chart-summary")).to_contain_text("mean run time")
            await shot("4-chart")

            # A schedule stored in the queue is shown, then removed.
            await producer.add_schedule(Schedule("nightly", "UNKNOWN_JOB", cron="0 3 * * *"))
            schedule = page.locator('#schedules tr[data-schedule-id="nightly"]')
            await expect(schedule).to_contain_text("0 3 * * *")
            await schedule.get_by_role("button", name="remove").click()
            await said("remove schedule nightly: done")
            await expect(schedule).to_have_count(0)

            # Clean failed jobs older than 0 s: the failed set empties.
            await page.fill("#clean-age", "0")
            await page.get_by_role("button", name="clean").click()
            await said("7 removed")
            await expect(page.locator("#empty")).to_be_visible()

            # Work owed by PostgreSQL: a pending checkout whose job the broker never got.
            async with db.transaction() as conn:
                chain = await create_chain(conn, 2)
                (tx,) = await create_transactions(conn, [(chain.buyer, 5_000)])
            await page.get_by_role("button", name="refresh").click()
            owed = page.locator('#owed-table tr[data-job-type="CHECKOUT_COMPLETED"]')
            await expect(owed).to_be_visible()
            await shot("5-owed")
            await page.get_by_role("button", name="re-enqueue missing").click()
            await expect(page.locator("#owed-result")).to_contain_text("missing enqueued")
            await eventually(lambda: _rewards_done(db, tx), timeout=15, what="rewards of tx")

            # A dead letter of a booking queue is inspected, then redriven.
            url = settings.sqs_booking_confirmation_queue_url
            async with sqs_client(settings) as sqs:
                await sqs.send_message(QueueUrl=url + "-dlq", MessageBody='{"poison": true}')
            await page.get_by_role("button", name="inspect").click()
            letters = page.locator('.dlq[data-queue="booking-confirmation"]')
            await expect(letters).to_contain_text("poison", timeout=10_000)
            await shot("6-dead-letters")
            await letters.get_by_role("button", name="redrive booking-confirmation").click()
            await said("1 sent back")
            await browser.close()
    finally:
        await admin(producer).delete_everything()
        await producer.close()


async def _rewards_done(db: Database, tx: Any) -> bool:
    async with db.acquire() as conn:
        status = await conn.fetchval(
            "SELECT rewards_status FROM checkout.transactions WHERE id = $1", tx
        )
    return bool(status == "done")


async def _failures(queue: WorkQueue, job_id: str, count: int) -> bool:
    events = await journal_for(queue).events(job_id)
    return sum(1 for e in events if e["event"] == "failed") >= count


async def test_on_rabbitmq_the_console_lists_what_the_broker_can_show_and_says_why_not_the_rest(
    worker_settings: Settings,
) -> None:
    from playwright.async_api import async_playwright, expect

    settings = worker_settings.model_copy(
        update={"work_queue_backend": "amqp", "work_queue_max_attempts": 1}
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    producer = create_work_queue(settings)
    app = create_app(settings)
    try:
        async with serve(app) as client, async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = await (
                await browser.new_context(viewport={"width": 1280, "height": 900})
            ).new_page()
            said = page.locator("#action-result")
            for n in range(2):
                await producer.enqueue("UNKNOWN_JOB", {"n": n}, job_id=f"lost-{n}")
            await producer.enqueue("UNKNOWN_JOB", {"n": 9}, job_id="later", delay=600)
            await page.goto(str(client.make_url("/dashboard")))
            await page.fill("#token", mint_token(settings.jwt_secret, "ops", "admin"))
            await page.get_by_role("button", name="Open").click()
            await expect(page.locator("#failed tbody tr")).to_have_count(2, timeout=15_000)
            await expect(page.locator('.count[data-state="completed"] b')).to_have_text("n/a")
            # Waiting jobs cannot be read without counting an attempt: the page says so.
            await expect(page.locator("#browse-note")).to_contain_text("redelivered")
            # The job's events, from this process's journal.
            await page.get_by_role("button", name="lost-0").click()
            await expect(page.locator('#job-events tr[data-event="failed"]')).to_be_visible()
            await page.locator('.count[data-state="delayed"]').click()
            later = page.locator('#jobs tr[data-job-id="later"]')
            await expect(later).to_be_visible()
            await shot_of(page, "7-rabbitmq")
            await later.get_by_role("button", name="promote").click()
            await expect(said).to_contain_text("promote later: done")
            await expect(page.locator("#failed tbody tr")).to_have_count(3, timeout=15_000)
            await page.locator(".error-class").get_by_role("button").click()
            await expect(said).to_contain_text("3 retried")
            await expect(page.locator("#failed tbody tr")).to_have_count(3, timeout=15_000)
            await page.fill("#clean-age", "0")
            await page.get_by_role("button", name="clean").click()
            await expect(said).to_contain_text("3 removed")
            await browser.close()
    finally:
        await admin(producer).delete_everything()
        await producer.close()


async def shot_of(page: Any, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
