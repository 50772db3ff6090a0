"""A refund reaches its buyer, and the points it took back reach the upline, through
notification_consumer on a real SQS queue and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

from services.notification_consumer.app import create_app
from shared.config import Settings
from shared.events.checkout import RefundIssued, RewardCredit, RewardsReversed
from shared.http.auth import mint_token
from tests.integration.consumers.conftest import envelope_of, make_queue, sqs
from tests.integration.consumers.test_notification_consumer import consumer_settings
from tests.support.http import bearer, serve
from tests.support.wait import eventually

__all__ = ["make_queue", "sqs"]  # the consumer tests' queue fixtures


async def test_the_buyer_hears_of_a_refund_and_the_upline_of_the_points_taken_back(
    settings: Settings, make_queue: Any
) -> None:
    queue = await make_queue()
    buyer, sponsor, grand = uuid.uuid4(), str(uuid.uuid4()), str(uuid.uuid4())
    transaction_id = uuid.uuid4()
    refunded = envelope_of(
        "REFUND_ISSUED",
        RefundIssued(
            refund_id=uuid.uuid4(),
            transaction_id=transaction_id,
            customer_id=buyer,
            amount=1_001,
            total=8_997,
            refunded_before=0,
            balance=18_002,
            reason="dented",
        ),
        subject=str(buyer),
    )
    reversed_ = envelope_of(
        "REWARDS_REVERSED",
        RewardsReversed(
            refund_id=uuid.uuid4(),
            transaction_id=transaction_id,
            buyer_id=str(buyer),
            reversals=[
                RewardCredit(customer_id=sponsor, depth=1, points=110),
                RewardCredit(customer_id=grand, depth=2, points=54),
            ],
        ),
        subject=str(buyer),
    )
    admin = bearer(mint_token(settings.jwt_secret, "root", "admin"))
    async with serve(create_app(consumer_settings(settings, queue.url))) as client:
        await queue.send([refunded, reversed_], copies=2)

        async def notices(recipient: str) -> list[Any]:
            response = await client.get(f"/users/{recipient}/notifications", headers=admin)
            return list((await response.json())["items"]) if response.status == 200 else []

        async def told(recipient: str) -> bool:
            return len(await notices(recipient)) == 1

        for recipient in (str(buyer), sponsor, grand):
            await eventually(lambda r=recipient: told(r), what=f"{recipient} told")  # type: ignore[misc]
        assert await queue.empty()
        (refund_notice,) = await notices(str(buyer))
        assert refund_notice["subject"] == "You were refunded 10.01"
        assert "balance is now 180.02" in refund_notice["body"]
        assert "Reason: dented" in refund_notice["body"]
        (taken,) = await notices(sponsor)
        assert taken["subject"] == "110 tree points were taken back"
        assert (await notices(grand))[0]["subject"] == "54 tree points were taken back"
