"""provider_consumer against real SQS and PostgreSQL: the inbox and its idempotency."""

from __future__ import annotations

import uuid
from typing import Any

from services.provider_consumer.app import create_app
from shared.config import Settings
from shared.http.auth import mint_token
from shared.storage.pool import Database
from tests.integration.consumers.conftest import booking_event, processed
from tests.support.http import bearer, serve
from tests.support.wait import eventually

CONSUMER = "provider_consumer"


def consumer_settings(settings: Settings, queue_url: str, **changes: Any) -> Settings:
    return settings.model_copy(
        update={
            "sqs_booking_request_queue_url": queue_url,
            "consumer_wait_time": 1,
            "consumer_concurrency": 20,
            "consumer_retry_base": 0.0,
            **changes,
        }
    )


async def test_thousand_requests_each_delivered_twice_are_each_handled_once(
    settings: Settings, db: Database, make_queue: Any
) -> None:
    queue = await make_queue()
    providers = [f"provider-{uuid.uuid4().hex[:8]}" for _ in range(10)]
    events = [
        booking_event("BOOKING_CREATED", provider_id=providers[i % 10], user_id=f"user-{i}")
        for i in range(1000)
    ]
    ids = [event.id for event in events]

    async with serve(create_app(consumer_settings(settings, queue.url))):
        assert await queue.feed_twice(events) == 2000
        await eventually(lambda: _all_deleted(queue), timeout=60, what="all deleted")
        assert await queue.empty()

    assert await processed(db, "provider_inbox", CONSUMER, ids) == 1000
    async with db.acquire() as conn:
        requests = await conn.fetchval(
            "SELECT count(*) FROM provider_inbox.requests WHERE provider_id = ANY($1)", providers
        )
        notices = await conn.fetch(
            "SELECT event_id, count(*) AS n FROM provider_inbox.notifications "
            "WHERE recipient_id = ANY($1) GROUP BY event_id",
            providers,
        )
    assert requests == 1000
    assert len(notices) == 1000
    assert {row["n"] for row in notices} == {1}
    assert await queue.dead_letters() == 0


async def test_inbox_shows_pending_requests_and_drops_cancelled_and_expired_ones(
    settings: Settings, make_queue: Any
) -> None:
    queue = await make_queue()
    provider = f"provider-{uuid.uuid4().hex[:8]}"
    kept, cancelled, expired, cancelled_first = (uuid.uuid4() for _ in range(4))
    events = [
        booking_event("BOOKING_CREATED", provider_id=provider, user_id="u1", booking_id=kept),
        booking_event("BOOKING_CREATED", provider_id=provider, user_id="u2", booking_id=cancelled),
        booking_event("BOOKING_CREATED", provider_id=provider, user_id="u3", booking_id=expired),
    ]
    later = [
        booking_event(
            "BOOKING_CANCELLED", provider_id=provider, user_id="u2", booking_id=cancelled
        ),
        booking_event("BOOKING_EXPIRED", provider_id=provider, user_id="u3", booking_id=expired),
        # SQS does not keep order: a cancellation may arrive before its creation.
        booking_event(
            "BOOKING_CANCELLED", provider_id=provider, user_id="u4", booking_id=cancelled_first
        ),
    ]
    secret = settings.jwt_secret
    own = bearer(mint_token(secret, provider, "provider"))
    path = f"/providers/{provider}/inbox"

    async def inbox_ids(client: Any) -> set[str]:
        response = await client.get(path, headers=own)
        assert response.status == 200
        return {item["booking_id"] for item in (await response.json())["items"]}

    async with serve(create_app(consumer_settings(settings, queue.url))) as client:
        await queue.send(events)
        await eventually(
            lambda: _has(client, inbox_ids, {str(kept), str(cancelled), str(expired)}),
            what="three requests in the inbox",
        )
        await queue.send(later)
        await eventually(queue.empty, what="later events handled")
        await queue.send(
            [
                booking_event(
                    "BOOKING_CREATED",
                    provider_id=provider,
                    user_id="u4",
                    booking_id=cancelled_first,
                )
            ]
        )
        await eventually(queue.empty, what="late creation handled")
        assert await inbox_ids(client) == {str(kept)}

        other = bearer(mint_token(secret, "someone-else", "provider"))
        assert (await client.get(path, headers=other)).status == 403
        assert (await client.get(path)).status == 401
        admin = bearer(mint_token(secret, "root", "admin"))
        response = await client.get(path, headers=admin)
        assert [item["booking_id"] for item in (await response.json())["items"]] == [str(kept)]

        ready = await client.get("/readyz")
        assert ready.status == 200
        assert set((await ready.json())["checks"]) >= {"postgres", "sqs", "loop:booking-requests"}
        metrics = await (await client.get("/metrics")).text()
        queue_name = queue.url.rsplit("/", 1)[-1]
        handled = f'sqs_consumer_handled_total{{event_type="BOOKING_CREATED",queue="{queue_name}"}}'
        assert f"{handled} 4.0" in metrics


async def _has(client: Any, inbox_ids: Any, expected: set[str]) -> bool:
    return await inbox_ids(client) == expected


async def _all_deleted(queue: Any) -> bool:
    return bool(queue.deleted() == 2000)
