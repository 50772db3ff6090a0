"""booking_api (and the outbox relay inside it) SIGKILLed twice under a booking workload, with
provider_consumer running: every committed booking reaches the provider's inbox exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from shared.config import Settings
from shared.http.auth import mint_token
from shared.messaging.sqs import sqs_client
from shared.storage.pool import Database
from tests.faults.harness import kill_at
from tests.faults.processes import ServiceProcess
from tests.faults.queues import expected_messages
from tests.faults.report import record
from tests.integration.booking.api import unique
from tests.support.http import bearer
from tests.support.wait import eventually

BOOKERS = 8
SLOTS = 500
KILL_AT = (80, 200)  # SIGKILL booking_api once this many bookings are answered 201


@dataclass
class Bookers:
    api: ServiceProcess
    secret: str
    slots: list[str]
    booked: dict[str, str] = field(default_factory=dict)  # slot id -> booking id
    statuses: Counter[int | str] = field(default_factory=Counter)
    stopping = False

    async def run(self, session: aiohttp.ClientSession) -> None:
        headers = bearer(mint_token(self.secret, unique("user"), "user"))
        while self.slots and not self.stopping:
            slot, key = self.slots.pop(), str(uuid.uuid4())
            # Same key until a 201: a booking committed just before the kill is replayed.
            while True:
                try:
                    async with session.post(
                        f"{self.api.url}/bookings",
                        json={"slot_id": slot},
                        headers={**headers, "Idempotency-Key": key},
                    ) as response:
                        body = await response.json(content_type=None)
                        self.statuses[response.status] += 1
                except aiohttp.ClientError:
                    self.statuses["no answer"] += 1
                    await asyncio.sleep(0.1)
                    continue
                if response.status == 201:
                    self.booked[slot] = body["id"]
                    break
                assert response.status == 503, (response.status, body)
                await asyncio.sleep(0.1)


async def _create_slots(
    session: aiohttp.ClientSession, api: ServiceProcess, secret: str
) -> list[str]:
    provider = unique("provider")
    headers = bearer(mint_token(secret, provider, "provider"))
    start = datetime.now(UTC) + timedelta(days=1)
    slots = []
    for i in range(SLOTS):
        starts_at = start + timedelta(hours=i)
        async with session.post(
            f"{api.url}/providers/{provider}/slots",
            json={
                "starts_at": starts_at.isoformat(),
                "ends_at": (starts_at + timedelta(minutes=30)).isoformat(),
            },
            headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
        ) as response:
            assert response.status == 201, await response.text()
            slots.append(str((await response.json())["id"]))
    return slots


@pytest.mark.timeout(300)
async def test_booking_api_killed_twice_mid_workload_delivers_every_booking_once(
    own_queues: Settings, db: Database
) -> None:
    api = ServiceProcess("booking_api", own_queues)
    consumer = ServiceProcess(
        "provider_consumer", own_queues.model_copy(update={"consumer_wait_time": 1})
    )
    try:
        api.start()
        consumer.start()
        await api.ready()
        async with aiohttp.ClientSession() as session:
            slots = await _create_slots(session, api, own_queues.jwt_secret)
            bookers = Bookers(api, own_queues.jwt_secret, list(slots))
            tasks = [asyncio.create_task(bookers.run(session)) for _ in range(BOOKERS)]

            async def booked() -> int:
                return len(bookers.booked)

            booked_at_kill = await kill_at(api, booked, KILL_AT, what="bookings", interval=0.05)
            await asyncio.gather(*tasks)
        booking_ids = list(bookers.booked.values())
        async with db.acquire() as conn:
            expected = await expected_messages(conn, "booking", booking_ids)
            in_db = await conn.fetch(
                "SELECT slot_id::text AS slot, id::text AS id FROM booking.bookings "
                "WHERE slot_id = ANY($1::uuid[])",
                slots,
            )
        event_ids = [uuid.UUID(m) for m in expected]

        async def delivered() -> bool:
            async with db.acquire() as conn:
                handled = await conn.fetchval(
                    "SELECT count(*) FROM provider_inbox.processed_messages "
                    "WHERE consumer = 'provider_consumer' AND message_id = ANY($1::uuid[])",
                    event_ids,
                )
            return int(handled) == len(event_ids)

        await eventually(delivered, timeout=120, interval=0.2, what="every event handled")
        async with sqs_client(own_queues) as sqs:

            async def drained() -> bool:
                response = await sqs.get_queue_attributes(
                    QueueUrl=own_queues.sqs_booking_request_queue_url,
                    AttributeNames=[
                        "ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible",
                    ],
                )
                return set(response["Attributes"].values()) == {"0"}

            await eventually(drained, timeout=60, what="queue drained")
    finally:
        output = api.output()
        api.close()
        consumer.close()

    assert len(bookers.booked) == SLOTS, output
    assert sorted((r["slot"], r["id"]) for r in in_db) == sorted(bookers.booked.items()), (
        "the database holds exactly the bookings the clients were told of, one per slot"
    )
    async with db.acquire() as conn:
        inbox = await conn.fetch(
            "SELECT booking_id::text AS id FROM provider_inbox.requests "
            "WHERE booking_id = ANY($1::uuid[])",
            booking_ids,
        )
        notified = Counter(
            str(row["event_id"])
            for row in await conn.fetch(
                "SELECT event_id FROM provider_inbox.notifications "
                "WHERE event_id = ANY($1::uuid[])",
                event_ids,
            )
        )
    lost = len(set(booking_ids) - {r["id"] for r in inbox}) + sum(
        1 for m in expected if not notified[m]
    )
    doubled = sum(n - 1 for n in notified.values() if n > 1)
    assert (lost, doubled) == (0, 0), (lost, doubled)
    record(
        "crash-booking_api",
        done=(
            f"{BOOKERS} bookers book {SLOTS} slots through booking_api running as a process "
            f"(its outbox relay inside), SIGKILLed twice (after {booked_at_kill[0]}"
            f" and {booked_at_kill[1]} bookings) and restarted; provider_consumer runs throughout"
        ),
        checked=(
            "clients retry with their Idempotency-Key: the database holds exactly the bookings "
            "answered 201, one per slot; every booking in the provider's inbox and notified once, "
            "every event handled once, the queue drained"
        ),
        requests=sum(bookers.statuses.values()),
        faults=len(KILL_AT),
        messages=len(expected),
        lost=lost,
        doubled=doubled,
        unanswered=bookers.statuses["no answer"],
    )
