"""Guaranteed work on both backends: a pending checkout whose job the broker lost is owed and
missing, one still unsent in the outbox is in transit; re-enqueueing adds the missing job
once, and a second pass adds nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from services.reward_worker.owed import owed_work, requeue_missing, run
from shared.config import Settings
from shared.events.envelope import Envelope
from shared.messaging import outbox
from shared.messaging.destinations import REWARD_JOBS
from shared.storage.pool import Database
from shared.workqueue import WorkQueue, create_work_queue
from shared.workqueue.base import admin
from shared.workqueue.inspect import present
from tests.integration.rewards.conftest import create_chain, create_transactions, reward_job


@pytest.fixture(params=["redis", "amqp"])
async def queue(
    worker_settings: Settings, request: pytest.FixtureRequest
) -> AsyncIterator[WorkQueue]:
    queue = create_work_queue(
        worker_settings.model_copy(update={"work_queue_backend": request.param})
    )
    yield queue
    await admin(queue).delete_everything()
    await queue.close()


async def test_owed_jobs_missing_from_the_broker_are_enqueued_once(
    db: Database,
    queue: WorkQueue,
    worker_settings: Settings,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = worker_settings.model_copy(
        update={"work_queue_backend": request.node.callspec.params["queue"]}
    )
    async with db.transaction() as conn:
        chain = await create_chain(conn, 2)
        lost, in_transit = await create_transactions(conn, [(chain.buyer, 700), (chain.buyer, 900)])
        envelope = Envelope.model_validate(reward_job(in_transit, chain.buyer, 900))
        await outbox.add(
            conn, "checkout", REWARD_JOBS, envelope, attributes={"jobId": str(in_transit)}
        )
    try:
        report = await owed_work(db, queue)
        rewards = next(t for t in report["job_types"] if t["job_type"] == "CHECKOUT_COMPLETED")
        assert rewards["owed"] >= 2 and rewards["in_outbox"] >= 1 and rewards["missing"] >= 1

        first = await requeue_missing(db, queue)
        assert _enqueued(first) >= 1
        assert set(await present(queue, [str(lost), str(in_transit)])) == {str(lost)}
        again = await requeue_missing(db, queue)
        assert _enqueued(again) == 0
        # The command prints the same report as JSON.
        assert await run([], settings.model_copy(update={"work_queue_name": queue.name})) == 0
        printed = json.loads(capsys.readouterr().out)
        assert {t["job_type"] for t in printed["job_types"]} == {
            "CHECKOUT_COMPLETED",
            "REFUND_ISSUED",
        }
    finally:
        async with db.transaction() as conn:
            await conn.execute(
                """UPDATE checkout.outbox SET sent_at = now()
                   WHERE sent_at IS NULL AND attributes->>'jobId' = $1""",
                str(in_transit),
            )


def _enqueued(result: dict[str, object]) -> int:
    rows = result["job_types"]
    assert isinstance(rows, list)
    return int(next(r["enqueued"] for r in rows if r["job_type"] == "CHECKOUT_COMPLETED"))
