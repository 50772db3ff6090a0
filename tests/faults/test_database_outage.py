"""PostgreSQL stopped and started again under a booking workload: 503 at once, then recovery,
and every committed booking's events delivered (at least once: only the batch in flight when
the database died may arrive twice)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
import pytest

from shared.config import Settings
from shared.storage.pool import Database
from tests.faults.queues import drain, expected_messages, lost_and_doubled
from tests.faults.report import record
from tests.faults.servers import PostgresCluster
from tests.integration.booking.api import BookingApi, running, unique
from tests.support.wait import eventually

BOOKERS = 8
SLOTS = 600
DOWN_FOR = 4.0  # seconds the database stays stopped
ANSWER_WITHIN = 1.0  # seconds an API may take to answer while the database is down
IN_FLIGHT = 2 * 100  # rows one relay claims at once: a batch of 100 per destination


@dataclass
class Workload:
    """Bookers taking one fresh slot after another until told to stop."""

    api: BookingApi
    slots: list[str]
    booked: dict[str, str] = field(default_factory=dict)  # slot id -> booking id
    statuses: Counter[int] = field(default_factory=Counter)
    while_down: list[tuple[int, str, float]] = field(default_factory=list)
    down = False
    stopping = False

    async def booker(self, session: aiohttp.ClientSession) -> None:
        user = unique("user")
        headers = self.api.auth(user, "user")
        url = self.api.client.make_url("/bookings")
        while self.slots and not self.stopping:
            slot = self.slots.pop()
            key = str(uuid.uuid4())
            # A client retries with the same Idempotency-Key until it has an answer that is
            # not "try again": a booking whose response was lost is replayed, never doubled.
            while not self.stopping:
                down, started = self.down, time.monotonic()
                async with session.post(
                    url, json={"slot_id": slot}, headers={**headers, "Idempotency-Key": key}
                ) as response:
                    body = await response.json(content_type=None)
                    elapsed = time.monotonic() - started
                    self.statuses[response.status] += 1
                    if down and self.down:
                        self.while_down.append((response.status, response.content_type, elapsed))
                if response.status == 201:
                    self.booked[slot] = body["id"]
                    break
                assert response.status == 503, (response.status, body)
                await asyncio.sleep(0.05)


@pytest.mark.timeout(300)
async def test_with_postgresql_stopped_the_api_answers_503_at_once_and_no_event_is_lost(
    own_queues: Settings, postgres: PostgresCluster, db: Database
) -> None:
    async with running(own_queues) as api:
        provider = unique("provider")
        slots = [(await api.create_slot(provider, hours_ahead=24 + i))["id"] for i in range(SLOTS)]
        workload = Workload(api, slots)
        async with aiohttp.ClientSession() as session:
            bookers = [asyncio.create_task(workload.booker(session)) for _ in range(BOOKERS)]
            await eventually(lambda: _at_least(workload, 50), timeout=60, what="50 bookings")

            workload.down = True
            await asyncio.to_thread(postgres.stop, "fast")
            down_at = time.monotonic()
            ready_while_down = []
            while time.monotonic() - down_at < DOWN_FOR:
                started = time.monotonic()
                ready = await session.get(api.client.make_url("/readyz"))
                ready_while_down.append((ready.status, time.monotonic() - started))
                await asyncio.sleep(0.2)
            workload.down = False
            await asyncio.to_thread(postgres.start)
            restarted_at = time.monotonic()
            before = len(workload.booked)
            await eventually(
                lambda: _at_least(workload, before + 50), timeout=60, what="bookings again"
            )
            recovered_in = time.monotonic() - restarted_at
            workload.stopping = True
            await asyncio.gather(*bookers)
        assert workload.while_down, "requests were answered while the database was down"
        assert {status for status, _, _ in workload.while_down} == {503}
        assert {kind for _, kind, _ in workload.while_down} == {"application/problem+json"}
        slowest = max(elapsed for _, _, elapsed in workload.while_down)
        assert slowest < ANSWER_WITHIN, slowest
        assert {status for status, _ in ready_while_down} == {503}
        assert set(workload.statuses) <= {201, 503}, workload.statuses

        booking_ids = list(workload.booked.values())
        async with db.acquire() as conn:
            committed = await conn.fetchval(
                "SELECT count(*) FROM booking.bookings WHERE id = ANY($1::uuid[])", booking_ids
            )
            per_slot = await conn.fetchval(
                "SELECT max(n) FROM (SELECT count(*) AS n FROM booking.bookings "
                "WHERE slot_id = ANY($1::uuid[]) GROUP BY slot_id) AS s",
                list(workload.booked),
            )
            expected = await expected_messages(conn, "booking", booking_ids)
        assert committed == len(booking_ids), "every 201 is a committed booking"
        assert per_slot == 1, "a retried booking was never made twice"
        assert len(expected) >= len(booking_ids)

        # The relay runs inside the API: every committed event must leave while it is up.
        async def relayed() -> bool:
            async with db.acquire() as conn:
                unsent = await conn.fetchval(
                    "SELECT count(*) FROM booking.outbox "
                    "WHERE sent_at IS NULL AND message_id = ANY($1::uuid[])",
                    list(expected),
                )
            return unsent == 0

        await eventually(relayed, timeout=60, interval=0.2, what="the outbox relayed every event")
    received = await drain(
        own_queues,
        [own_queues.sqs_booking_request_queue_url, own_queues.sqs_booking_confirmation_queue_url],
        expected,
    )
    lost, copies = lost_and_doubled(expected, received)
    assert lost == 0
    # A batch published just before the database died is not marked sent, so it goes out
    # again (at least once, by design): at most one claimed batch per destination. The
    # consumers absorb such copies by event id (the relay-crash and consumer-crash rows).
    assert copies <= IN_FLIGHT, copies
    record(
        "outage-postgresql",
        done=(
            f"{BOOKERS} bookers book fresh slots; the private PostgreSQL is stopped (fast) for "
            f"{DOWN_FOR:.0f} s mid-run, then started"
        ),
        checked=(
            "every answer while down is 503 problem+json within 1 s (slowest "
            f"{slowest * 1000:.0f} ms), /readyz 503; bookings succeed again by themselves "
            f"({recovered_in:.1f} s after the restart for 50 more); each committed booking's "
            "events reach SQS, none lost; copies re-sent from the batch in flight when the "
            f"database died: {copies} (bound {IN_FLIGHT}, absorbed by the consumers' dedupe)"
        ),
        requests=sum(workload.statuses.values()),
        faults=1,
        messages=sum(expected.values()),
        lost=lost,
        doubled=0,
        resent_copies=copies,
        bookings=len(booking_ids),
        answered_503=workload.statuses[503],
    )


async def _at_least(workload: Workload, count: int) -> bool:
    return len(workload.booked) >= count
