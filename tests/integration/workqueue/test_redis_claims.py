"""Redis claims: a claim is fenced by a token of its own, and bulk operations skip gaps."""

from __future__ import annotations

import pytest

from shared.workqueue import Job, NewJob, Outcome, WorkQueue
from shared.workqueue.redis_backend import RedisWorkQueue
from tests.support.wait import eventually

pytestmark = pytest.mark.parametrize("backend", ["redis"])


async def _claim_one(queue: WorkQueue) -> list[Job]:
    return await queue.claim(1, 0)


async def test_a_stalled_workers_late_completion_is_refused_after_its_claim_was_taken_over(
    queue: WorkQueue,
) -> None:
    """Worker A stalls past the visibility timeout; B takes the job over and fails it for
    good; an operator retries it and C claims it. A's late "completed" must not touch C's
    claim: the attempt number of C's claim is the same as A's was."""
    await queue.enqueue("work", {}, job_id="j1")
    (stalled,) = await queue.claim(1, 0)
    (second,) = await eventually(lambda: _claim_one(queue), what="the stalled job to return")
    await queue.settle([Outcome(second, "failed", error="ValueError: bad")])
    assert await queue.retry_failed("j1")
    (third,) = await queue.claim(1, 0)
    assert third.attempt == stalled.attempt  # the number repeats: it cannot fence a claim

    await queue.settle([Outcome(stalled, "completed")])  # the stalled worker wakes up
    counts = await queue.status()
    assert (counts["active"], counts["completed"]) == (1, 0)

    await queue.settle([Outcome(third, "failed", error="ValueError: bad")])
    counts = await queue.status()
    assert (counts["failed"], counts["completed"], counts["active"]) == (1, 0, 0)
    job = await queue.inspect("j1")
    assert job is not None and job["state"] == "failed"


async def test_a_released_claim_cannot_be_settled_or_extended_afterwards(
    queue: WorkQueue,
) -> None:
    await queue.enqueue("work", {}, job_id="j1")
    (first,) = await queue.claim(1, 0)
    await queue.release([first])
    (second,) = await queue.claim(1, 0)
    assert second.receipt != first.receipt
    await queue.settle([Outcome(first, "completed")])
    await queue.release([first])
    counts = await queue.status()
    assert (counts["active"], counts["completed"], counts["waiting"]) == (1, 0, 0)
    await queue.settle([Outcome(second, "completed")])
    assert (await queue.status())["completed"] == 1


async def test_retry_all_skips_a_failed_id_whose_job_is_gone_and_retries_the_rest(
    queue: WorkQueue,
) -> None:
    """A failed id can outlive its hash (evicted, or deleted by hand): retry-all moves the
    other failed jobs back to waiting and forgets the dangling id instead of aborting."""
    await queue.enqueue_many([NewJob("work", {}, job_id=i) for i in ("gone", "kept")])
    claimed = await queue.claim(2, 0)
    await queue.settle([Outcome(job, "failed", error="ValueError: bad") for job in claimed])
    assert isinstance(queue, RedisWorkQueue)  # the hash is a Redis key
    await queue.redis.delete(queue.key("job:gone"))

    assert await queue.retry_all_failed() == 1
    counts = await queue.status()
    assert (counts["failed"], counts["waiting"]) == (0, 1)
    (job,) = await queue.claim(1, 0)
    assert job.id == "kept" and job.attempt == 1
    assert await queue.retry_failed("gone") is False
