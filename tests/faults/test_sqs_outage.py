"""The SQS server unreachable under a booking workload: bookings keep succeeding, and once it
is back every committed booking's events reach the queues (at least once: only the batch in
flight when the connection was cut may arrive twice)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from urllib.parse import urlsplit

import aiohttp
import pytest

from shared.config import Settings
from shared.storage.pool import Database
from tests.faults.queues import drain, expected_messages, lost_and_doubled
from tests.faults.report import record
from tests.integration.booking.api import BookingApi, running, unique
from tests.support.proxy import TcpProxy
from tests.support.wait import eventually

BOOKERS = 8
SLOTS = 500
DOWN_FOR = 5.0
IN_FLIGHT = 2 * 100  # rows one relay claims at once: a batch of 100 per destination
SETTLE = 2.0  # seconds of receiving after the last event arrived (a late copy counts)


async def _book_all(
    api: BookingApi, slots: list[str], booked: dict[str, str], statuses: Counter[int]
) -> None:
    headers = api.auth(unique("user"), "user")
    url = api.client.make_url("/bookings")
    async with aiohttp.ClientSession() as session:
        while slots:
            slot = slots.pop()
            async with session.post(
                url,
                json={"slot_id": slot},
                headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
            ) as response:
                body = await response.json(content_type=None)
                statuses[response.status] += 1
            assert response.status == 201, body
            booked[slot] = body["id"]


@pytest.mark.timeout(300)
async def test_with_the_sqs_server_unreachable_bookings_go_on_and_every_event_follows(
    own_queues: Settings, db: Database
) -> None:
    real = urlsplit(own_queues.sqs_endpoint_url)
    proxy = await TcpProxy(real.hostname or "127.0.0.1", real.port or 80).start()
    # booking_api (and its relay) reach SQS only through the proxy; the test reads directly.
    through = own_queues.model_copy(update={"sqs_endpoint_url": f"http://127.0.0.1:{proxy.port}"})
    booked: dict[str, str] = {}
    statuses: Counter[int] = Counter()
    try:
        async with running(through) as api:
            provider = unique("provider")
            slots = [
                (await api.create_slot(provider, hours_ahead=24 + i))["id"] for i in range(SLOTS)
            ]
            tasks = [
                asyncio.create_task(_book_all(api, slots, booked, statuses)) for _ in range(BOOKERS)
            ]
            await eventually(lambda: _at_least(booked, 100), timeout=60, what="100 bookings")
            await proxy.down()
            before = len(booked)
            await asyncio.sleep(DOWN_FOR)  # the outage lasts this long; bookings go on
            while_down = len(booked) - before
            await proxy.up()
            up_at = time.monotonic()
            await asyncio.gather(*tasks)
            booking_ids = list(booked.values())
            async with db.acquire() as conn:
                expected = await expected_messages(conn, "booking", booking_ids)
            received = await drain(
                own_queues,
                [
                    own_queues.sqs_booking_request_queue_url,
                    own_queues.sqs_booking_confirmation_queue_url,
                ],
                expected,
                timeout=120,
                settle=SETTLE,
            )
            # drain() returns SETTLE seconds after the last expected message arrived.
            caught_up_in = time.monotonic() - up_at - SETTLE
    finally:
        await proxy.close()

    assert len(booked) == SLOTS
    assert while_down >= 20, "bookings went on while SQS was unreachable"
    assert len(expected) == len(booking_ids)
    lost, copies = lost_and_doubled(expected, received)
    assert lost == 0
    # A batch SQS received just as its connection was cut looks failed to the relay and goes
    # out again (at least once, by design): at most the one batch each destination had in
    # flight. The consumers absorb such copies by event id (the relay-crash row).
    assert copies <= IN_FLIGHT, copies
    record(
        "outage-sqs",
        done=(
            f"{BOOKERS} bookers book {SLOTS} slots; the SQS server is cut off from booking_api "
            f"(every connection reset, new ones refused) for {DOWN_FOR:.0f} s mid-run"
        ),
        checked=(
            f"every booking answers 201, also while SQS is unreachable ({while_down} of them); "
            "once it is back each committed booking's events reach SQS, none lost (all of them "
            f"{caught_up_in:.1f} s after it came back); copies of the batch in flight when the "
            f"connection was cut: {copies} (bound {IN_FLIGHT}, absorbed by the consumers' dedupe)"
        ),
        requests=sum(statuses.values()),
        faults=1,
        messages=sum(expected.values()),
        lost=lost,
        doubled=0,
        resent_copies=copies,
    )


async def _at_least(booked: dict[str, str], count: int) -> bool:
    return len(booked) >= count
