"""Events leave through the outbox to the queues the contract names, once, even past an outage."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.booking_api import commands
from services.booking_api.typedefs import SCHEMA
from services.booking_api.uow import PostgresUnitOfWork
from shared.config import Settings
from shared.events.envelope import Trace
from shared.messaging.relay import OutboxRelay
from shared.messaging.sqs import SqsPublisher, queue_urls, sqs_client
from shared.storage.pool import Database
from tests.integration.booking.api import BookingApi, running, unique
from tests.integration.booking.queues import receive
from tests.support.proxy import TcpProxy
from tests.support.wait import eventually


async def event_ids(db: Database, booking_ids: list[str], type_: str) -> set[str]:
    async with db.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT event_id FROM {SCHEMA}.events WHERE type = $1 AND stream_id = ANY($2)",
            type_,
            [f"booking-{b}" for b in booking_ids],
        )
    return {str(row["event_id"]) for row in rows}


async def test_each_event_reaches_the_queues_of_its_audience_with_attributes(
    own_queues: Settings, db: Database
) -> None:
    async with running(own_queues) as api:
        provider, user = unique("provider"), unique("user")
        first = await api.booked(user, (await api.create_slot(provider))["id"])
        await api.answer(provider, first["id"], "accept")
        await api.cancel(user, first["id"])
        second = await api.booked(user, (await api.create_slot(provider))["id"])
        response = await api.client.post(
            f"/providers/{provider}/bookings/{second['id']}/reject",
            json={"reason": "full"},
            headers={**api.auth(provider, "provider"), "X-Correlation-ID": "trace-me"},
        )
        assert response.status == 200
        ids = [first["id"], second["id"]]
        created = await event_ids(db, ids, "BOOKING_CREATED")
        cancelled = await event_ids(db, ids, "BOOKING_CANCELLED")
        confirmed = await event_ids(db, ids, "BOOKING_CONFIRMED")
        rejected = await event_ids(db, ids, "BOOKING_REJECTED")

        # The provider's side hears of every change, so its inbox shows only open requests.
        for_provider = created | confirmed | rejected | cancelled
        for_user = confirmed | rejected | cancelled
        requests = await receive(own_queues, own_queues.sqs_booking_request_queue_url, for_provider)
        answers = await receive(own_queues, own_queues.sqs_booking_confirmation_queue_url, for_user)
    requests = requests.of(created | confirmed | rejected | cancelled)
    answers = answers.of(created | confirmed | rejected | cancelled)

    assert requests.counts == dict.fromkeys(for_provider, 1)
    assert answers.counts == dict.fromkeys(for_user, 1)
    assert requests.types() == {
        "BOOKING_CREATED": 2,
        "BOOKING_CONFIRMED": 1,
        "BOOKING_REJECTED": 1,
        "BOOKING_CANCELLED": 1,
    }
    assert answers.types() == {
        "BOOKING_CONFIRMED": 1,
        "BOOKING_REJECTED": 1,
        "BOOKING_CANCELLED": 1,
    }
    rejection = answers.messages[rejected.pop()]
    assert rejection["data"]["reason"] == "full"
    assert rejection["attributes"]["eventType"] == "BOOKING_REJECTED"
    assert rejection["attributes"]["correlationId"] == "trace-me"
    assert rejection["attributes"]["traceparent"].startswith("00-")
    assert rejection["correlationid"] == "trace-me"


async def book_many(api: BookingApi, count: int) -> list[dict[str, Any]]:
    provider = unique("provider")
    slots = await asyncio.gather(*(api.create_slot(provider) for _ in range(count)))
    return list(await asyncio.gather(*(api.booked(unique("user"), s["id"]) for s in slots)))


async def test_with_sqs_down_bookings_succeed_and_every_event_arrives_once_after(
    own_queues: Settings, db: Database
) -> None:
    sqs_port = int(own_queues.sqs_endpoint_url.rsplit(":", 1)[1])
    proxy = await TcpProxy("127.0.0.1", sqs_port).start()
    await proxy.down()
    # The API talks to SQS through the proxy; the queue URLs stay those of the real server.
    through_proxy = own_queues.model_copy(
        update={"sqs_endpoint_url": f"http://127.0.0.1:{proxy.port}"}
    )
    try:
        async with running(through_proxy) as api:
            bookings = await book_many(api, 200)
            ids = [b["id"] for b in bookings]
            created = await event_ids(db, ids, "BOOKING_CREATED")
            assert len(created) == 200

            async def publish_failed() -> bool:
                async with db.acquire() as conn:
                    return bool(
                        await conn.fetchval(
                            f"""SELECT count(*) FROM {SCHEMA}.outbox
                                WHERE message_id = ANY($1::uuid[])
                                  AND sent_at IS NULL AND attempts > 0""",
                            list(created),
                        )
                    )

            await eventually(publish_failed, timeout=15, what="the relay tried and failed")

            async def depth_reported() -> bool:
                text = await (await api.client.get("/metrics")).text()
                prefix = f'outbox_depth{{schema="{SCHEMA}"}}'
                line = next(x for x in text.splitlines() if x.startswith(prefix))
                return float(line.split()[-1]) >= 200

            await eventually(depth_reported, timeout=10, what="outbox depth in /metrics")
            await proxy.up()
            received = await receive(
                own_queues, own_queues.sqs_booking_request_queue_url, created, timeout=60
            )
    finally:
        await proxy.close()

    assert received.of(created).counts == dict.fromkeys(created, 1)


async def test_several_relays_at_once_never_send_a_row_twice(
    own_queues: Settings, db: Database
) -> None:
    provider = unique("provider")
    starts = datetime.now(UTC) + timedelta(days=3)
    async with db.transaction() as conn:
        uow, trace = PostgresUnitOfWork(conn), Trace()
        booking_ids = []
        for i in range(300):
            at = starts + timedelta(hours=i)
            slot_id = await commands.create_slot(
                uow, provider, at, at + timedelta(hours=1), provider, trace
            )
            booking_id = await commands.book(uow, slot_id, unique("user"), None, 3600, trace)
            booking_ids.append(str(booking_id))
    created = await event_ids(db, booking_ids, "BOOKING_CREATED")

    async with sqs_client(own_queues) as client:
        publisher = SqsPublisher(client, queue_urls(own_queues))
        relays = [
            OutboxRelay(db, SCHEMA, dict.fromkeys(publisher.urls, publisher), batch_size=20)
            for _ in range(4)
        ]
        tasks = [asyncio.create_task(relay.run()) for relay in relays]
        try:
            received = await receive(
                own_queues, own_queues.sqs_booking_request_queue_url, created, timeout=60
            )
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for relay in relays:
                await relay.close()

    assert len(created) == 300
    assert received.of(created).counts == dict.fromkeys(created, 1)
    async with db.acquire() as conn:
        attempts = await conn.fetch(
            f"SELECT attempts FROM {SCHEMA}.outbox WHERE message_id = ANY($1::uuid[])",
            [uuid.UUID(e) for e in created],
        )
    assert {row["attempts"] for row in attempts} == {1}
