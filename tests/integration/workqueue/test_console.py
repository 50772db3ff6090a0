"""The console's reads and actions on both backends: lists per state with cursor paging and
search, a job's events, retry of one error class, and cleaning failed jobs by age."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from shared.config import Settings
from shared.workqueue import NewJob, Outcome, WorkQueue
from shared.workqueue.cli import run
from shared.workqueue.console import clean, error_classes, retry_error_class
from shared.workqueue.history import WORKER_ID, journal_for
from shared.workqueue.inspect import BadQuery, Search, job_page, list_jobs, present
from tests.support.wait import eventually


async def _fail(queue: WorkQueue, errors: dict[str, str]) -> None:
    """Claim the jobs and fail each for good with its error, journaling as a worker does."""
    journal = journal_for(queue)
    claimed = []
    while len(claimed) < len(errors):
        claimed += await queue.claim(len(errors) - len(claimed), 1.0)
    await journal.claimed(claimed, lambda _: 30.0)
    outcomes = [
        Outcome(job, "failed", error=errors[job.id], traceback="Traceback ...") for job in claimed
    ]
    await queue.settle(outcomes)
    await journal.settled(outcomes)
    await journal.flush()


async def test_failed_jobs_page_by_cursor_search_by_payload_field_and_retry_by_error_class(
    queue: WorkQueue,
) -> None:
    ids = [f"job-{n}" for n in range(5)]
    await queue.enqueue_many(
        [NewJob("T", {"data": {"customer": f"c{n % 2}"}}, job_id) for n, job_id in enumerate(ids)]
    )
    errors = {i: ("ValueError: bad" if n < 3 else "KeyError: 'x'") for n, i in enumerate(ids)}
    await _fail(queue, errors)
    await eventually(lambda: _count(queue, "failed", 5), what="five failed jobs")

    first = await list_jobs(queue, "failed", limit=2)
    second = await list_jobs(queue, "failed", limit=2, cursor=first.cursor)
    third = await list_jobs(queue, "failed", limit=2, cursor=second.cursor)
    pages = [first.items, second.items, third.items]
    assert [len(p) for p in pages] == [2, 2, 1] and third.cursor is None
    assert sorted(job["id"] for page in pages for job in page) == ids
    assert all(job["error"] and job["traceback"] for page in pages for job in page)

    found = await list_jobs(queue, "failed", search=Search(field="data.customer", value="c1"))
    assert sorted(job["id"] for job in found.items) == ["job-1", "job-3"]
    by_id = await list_jobs(queue, "failed", search=Search(job_id="job-4"))
    assert [job["id"] for job in by_id.items] == ["job-4"]

    page = await job_page(queue, "job-0")
    assert page is not None
    assert [e["event"] for e in page["events"]] == ["enqueued", "claimed", "failed"]
    assert (
        page["events"][1]["worker"] == WORKER_ID and page["events"][2]["error"] == "ValueError: bad"
    )

    assert await error_classes(queue) == {"ValueError": 3, "KeyError": 2}
    assert await retry_error_class(queue, "ValueError") == 3
    assert await _left(queue) == ["job-3", "job-4"]
    assert set(await present(queue, ["job-0", "job-3", "nope"])) == {"job-0", "job-3"}


async def test_clean_removes_failed_jobs_older_than_the_age_only(queue: WorkQueue) -> None:
    await queue.enqueue_many([NewJob("T", {}, "old"), NewJob("T", {}, "new")])
    await _fail(queue, {"old": "E: 1", "new": "E: 2"})
    await eventually(lambda: _count(queue, "failed", 2), what="two failed jobs")
    assert await clean(queue, "failed", older_than=3600) == 0
    cleaned = 0

    async def all_cleaned() -> bool:  # older than 0 s: failed before this millisecond
        nonlocal cleaned
        cleaned += await clean(queue, "failed", older_than=0)
        return cleaned == 2

    await eventually(all_cleaned, what="both failed jobs to be cleaned")
    assert (await list_jobs(queue, "failed")).items == []
    with pytest.raises(BadQuery):
        await clean(queue, "waiting", older_than=0)


async def test_delayed_jobs_list_with_their_due_time_and_bad_cursors_are_refused(
    queue: WorkQueue,
) -> None:
    await queue.enqueue("T", {"n": 1}, job_id="later", delay=60)
    before = time.time()
    page = await list_jobs(queue, "delayed")
    assert [job["id"] for job in page.items] == ["later"]
    assert before + 50 < page.items[0]["due_at"] < before + 61
    with pytest.raises(BadQuery):
        await list_jobs(queue, "failed", cursor="not-a-cursor")
    with pytest.raises(BadQuery):
        await list_jobs(queue, "sleeping")


async def test_running_jobs_list_with_their_worker_and_deadline_where_the_broker_shows_them(
    queue: WorkQueue,
) -> None:
    await queue.enqueue("T", {}, job_id="busy")
    claimed = await queue.claim(1, 2.0)
    journal = journal_for(queue)
    await journal.claimed(claimed, lambda _: 30.0)
    await journal.flush()
    page = await list_jobs(queue, "active")
    if queue.backend == "amqp":
        assert not page.listable and page.reason and page.items == []
        return
    (job,) = page.items
    assert job["id"] == "busy" and job["worker"] == WORKER_ID
    assert time.time() + 25 < job["deadline_at"] < time.time() + 31
    assert job["visible_until"] > time.time()


async def _count(queue: WorkQueue, state: str, n: int) -> bool:
    return (await queue.status())[state] == n


async def _left(queue: WorkQueue) -> list[str]:
    return sorted(job["id"] for job in (await list_jobs(queue, "failed")).items)


async def test_the_cli_lists_shows_history_and_retries_an_error_class_as_json(
    queue: WorkQueue, queue_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    await queue.enqueue_many([NewJob("T", {"k": "a"}, "one"), NewJob("T", {"k": "b"}, "two")])
    await _fail(queue, {"one": "OSError: gone", "two": "KeyError: 'k'"})
    await eventually(lambda: _count(queue, "failed", 2), what="two failed jobs")

    async def cli(*argv: str) -> tuple[int, Any]:
        code = await run(["--json", *argv], queue_settings)
        return code, json.loads(capsys.readouterr().out)

    code, page = await cli("list", "failed", "--field", "k", "--value", "b")
    assert code == 0 and [job["id"] for job in page["items"]] == ["two"]
    code, job = await cli("history", "one")
    assert code == 0 and [e["event"] for e in job["events"]] == ["enqueued", "claimed", "failed"]
    assert await cli("error-classes") == (0, {"OSError": 1, "KeyError": 1})
    assert await cli("retry-class", "OSError") == (0, {"retried": 1})
    assert (await cli("list", "failed", "--cursor", "???"))[0] == 2
    assert (await cli("history", "nobody"))[0] == 1
