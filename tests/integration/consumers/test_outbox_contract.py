"""What the outbox relay publishes is what the consumers read: one contract, end to end."""

from __future__ import annotations

import uuid
from typing import Any

from services.provider_consumer.app import create_app
from shared.config import Settings
from shared.http.auth import mint_token
from shared.messaging import outbox
from shared.messaging.destinations import PROVIDER_EVENTS
from shared.messaging.relay import OutboxRelay
from shared.messaging.sqs import SqsPublisher
from shared.storage.pool import Database
from tests.integration.consumers.conftest import booking_event
from tests.support.http import bearer, serve
from tests.support.wait import eventually

# The provider_inbox schema has an outbox (every schema does) that nothing else relays.
SCHEMA = "provider_inbox"


async def test_a_booking_request_relayed_from_an_outbox_reaches_the_provider_inbox(
    settings: Settings, db: Database, make_queue: Any, sqs: Any
) -> None:
    queue = await make_queue()
    provider = f"provider-{uuid.uuid4().hex[:8]}"
    event = booking_event("BOOKING_CREATED", provider_id=provider, user_id="user-9")
    async with db.transaction() as conn:
        await outbox.add(conn, SCHEMA, PROVIDER_EVENTS, event)
    relay = OutboxRelay(
        db, SCHEMA, {PROVIDER_EVENTS: SqsPublisher(sqs, {PROVIDER_EVENTS: queue.url})}
    )
    assert await relay.drain_once() >= 1

    app_settings = settings.model_copy(
        update={"sqs_booking_request_queue_url": queue.url, "consumer_wait_time": 1}
    )
    token = bearer(mint_token(settings.jwt_secret, provider, "provider"))
    async with serve(create_app(app_settings)) as client:

        async def inbox() -> list[Any]:
            response = await client.get(f"/providers/{provider}/inbox", headers=token)
            return list((await response.json())["items"])

        (item,) = await eventually(inbox, what="request in the inbox")
    assert item["booking_id"] == str(event.data["booking_id"])
    assert item["user_id"] == "user-9"
