"""The reward_worker application: queue in, points and reward notices (SQS) out."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from services.reward_worker.app import create_app
from shared.config import Settings
from shared.messaging.sqs import sqs_client
from shared.storage.pool import Database
from shared.workqueue import create_work_queue
from shared.workqueue.base import admin
from tests.integration.rewards.conftest import create_chain, create_transactions, reward_job
from tests.support.http import serve
from tests.support.proxy import TcpProxy
from tests.support.wait import eventually


async def test_a_queued_reward_job_credits_points_and_sends_the_notices_to_sqs(
    worker_settings: Settings, db: Database
) -> None:
    async with db.transaction() as conn:
        chain = await create_chain(conn, 2)
        (tx,) = await create_transactions(conn, [(chain.buyer, 20_000)])
    referrer = chain.members[0]
    producer = create_work_queue(worker_settings)
    try:
        async with serve(create_app(worker_settings)) as client:
            await producer.enqueue(
                "CHECKOUT_COMPLETED", reward_job(tx, chain.buyer, 20_000), job_id=str(tx)
            )

            # Earlier tests' notices in the session's outbox are relayed too: keep ours.
            def ours(body: dict[str, Any]) -> bool:
                data = body["data"]
                return bool(
                    data.get("transaction_id") == str(tx)
                    or data.get("customer_id") == str(referrer)
                )

            received: list[dict[str, Any]] = []
            notices = await eventually(
                lambda: _receive(worker_settings, received, ours, 2),
                timeout=20,
                what="reward notices on SQS",
            )
            ready = await client.get("/readyz")
            assert ready.status == 200, await ready.text()
            metrics = await (await client.get("/metrics")).text()
    finally:
        await admin(producer).delete_everything()
        await producer.close()

    by_type = {n["type"]: n for n in notices}
    assert set(by_type) == {"REWARDS_DISTRIBUTED", "LEVEL_UPGRADED"}
    assert by_type["REWARDS_DISTRIBUTED"]["data"]["credits"] == [
        {"customer_id": str(referrer), "depth": 1, "points": 2_000}
    ]
    assert by_type["LEVEL_UPGRADED"]["data"]["new_level"] == 2
    assert any(
        line.startswith("workqueue_jobs_processed_total{")
        and 'outcome="completed"' in line
        and f'queue="{worker_settings.work_queue_name}"' in line
        and line.endswith(" 1.0")
        for line in metrics.splitlines()
    ), metrics


async def _receive(
    settings: Settings,
    received: list[dict[str, Any]],
    keep: Callable[[dict[str, Any]], bool],
    expected: int,
) -> list[dict[str, Any]] | None:
    """Receive into `received` (a message once received stays hidden); enough yet?"""
    async with sqs_client(settings) as sqs:
        response = await sqs.receive_message(
            QueueUrl=settings.sqs_booking_confirmation_queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=1,
        )
    for message in response.get("Messages", []):
        body = json.loads(message["Body"])
        assert message["MessageAttributes"]["eventType"]["StringValue"] == body["type"]
        if keep(body):
            received.append(body)
    return received if len(received) >= expected else None


async def test_readiness_reports_an_unreachable_work_queue_broker_and_recovers(
    worker_settings: Settings,
) -> None:
    proxy = await TcpProxy("127.0.0.1", 6379).start()
    settings = worker_settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{proxy.port}/0", "work_queue_backend": "redis"}
    )

    async def readiness(client: Any, status: int) -> dict[str, Any] | None:
        response = await client.get("/readyz")
        body: dict[str, Any] = await response.json(content_type=None)
        return body if response.status == status else None

    try:
        async with serve(create_app(settings)) as client:
            await eventually(lambda: readiness(client, 200), timeout=20, what="ready")
            await proxy.down()
            down = await eventually(lambda: readiness(client, 503), timeout=20, what="not ready")
            assert down["checks"]["workqueue"].startswith("down")
            assert down["checks"]["loop:worker"] == "up"  # the loop waits, it does not die
            await proxy.up()
            await eventually(lambda: readiness(client, 200), timeout=20, what="ready again")
    finally:
        await proxy.close()
