"""A burst of 5,000 bookings through HTTP, drained end to end.

booking_api runs as its own process (with its relay), both consumers in this one, on queues
of the test's own. 16 clients book 5,000 fresh slots as fast as the API answers; halfway
through, a provider accepts one booking. That user's BOOKING_CONFIRMED travels on the other
queue and must reach the user's notifications within seconds, in the middle of the burst.
At the end every booking is in its provider's inbox, nothing is left unsent, in flight or
dead-lettered.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from services.booking_api import commands
from services.booking_api.uow import PostgresUnitOfWork
from shared.config import Settings
from shared.events.envelope import Trace
from shared.http.auth import mint_token
from shared.messaging.destinations import PROVIDER_EVENTS, USER_NOTICES
from shared.storage.pool import Database
from tests.faults.processes import ServiceProcess
from tests.faults.queues import queue_depths
from tests.faults.report import record
from tests.integration.booking.api import unique
from tests.support.wait import eventually

BOOKINGS = 5_000
CLIENTS = 16
PROVIDERS = 10
DUE_UNSENT = (  # reminders wait in the outbox for their time on purpose
    "SELECT count(*) FROM booking.outbox WHERE sent_at IS NULL AND available_at <= now()"
)


async def _open_slots(db: Database, provider: str, count: int) -> list[str]:
    trace = Trace(correlation_id=str(uuid.uuid4()))
    start = datetime.now(UTC) + timedelta(days=2)
    slots = []
    for i in range(count):
        async with db.transaction() as conn:
            starts_at = start + timedelta(hours=i)
            slot = await commands.create_slot(
                PostgresUnitOfWork(conn),
                provider,
                starts_at,
                starts_at + timedelta(minutes=30),
                provider,
                trace,
            )
        slots.append(str(slot))
    return slots


async def _count(db: Database, sql: str, *args: object) -> int:
    async with db.acquire() as conn:
        return int(await conn.fetchval(sql, *args))


@pytest.mark.timeout(600)
async def test_a_burst_of_5000_bookings_drains_end_to_end_and_never_delays_a_user_notice(
    consumers: Settings, db: Database
) -> None:
    settings = consumers
    providers = [unique("provider") for _ in range(PROVIDERS)]
    per_provider = BOOKINGS // PROVIDERS
    slot_lists = await asyncio.gather(
        *(_open_slots(db, provider, per_provider) for provider in providers)
    )
    slots = [(p, s) for p, batch in zip(providers, slot_lists, strict=True) for s in batch]
    api = ServiceProcess("booking_api", settings)
    statuses: Counter[int] = Counter()
    booked: dict[str, tuple[str, str]] = {}  # booking id -> (provider, user)
    try:
        api.start()
        await api.ready()
        queue = list(slots)
        notice_latency: list[float] = []

        async with aiohttp.ClientSession(base_url=api.url) as session:

            async def client() -> None:
                user = unique("user")
                headers = {
                    "Authorization": f"Bearer {mint_token(settings.jwt_secret, user, 'user')}"
                }
                while queue:
                    provider, slot = queue.pop()
                    async with session.post(
                        "/bookings",
                        json={"slot_id": slot},
                        headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                    ) as response:
                        statuses[response.status] += 1
                        if response.status == 201:
                            booked[(await response.json())["id"]] = (provider, user)

            async def accept_one_midway() -> None:
                await eventually(lambda: _at_least(booked, BOOKINGS // 2), timeout=300)
                booking_id, (provider, user) = next(iter(booked.items()))
                token = mint_token(settings.jwt_secret, provider, "provider")
                started = time.monotonic()
                async with session.post(
                    f"/providers/{provider}/bookings/{booking_id}/accept",
                    headers={"Authorization": f"Bearer {token}"},
                ) as response:
                    assert response.status == 200, await response.text()
                await eventually(
                    lambda: _count(
                        db,
                        "SELECT count(*) FROM notifications.notifications n "
                        "JOIN booking.outbox o ON o.message_id = n.event_id "
                        "WHERE o.destination = $1 AND o.body->>'subject' = $2 "
                        "AND n.recipient_id = $3",
                        USER_NOTICES,
                        booking_id,
                        user,
                    ),
                    timeout=30,
                    interval=0.05,
                    what="the user told of the acceptance",
                )
                notice_latency.append(time.monotonic() - started)

            burst_started = time.monotonic()
            await asyncio.gather(*(client() for _ in range(CLIENTS)), accept_one_midway())
            burst_took = time.monotonic() - burst_started
            backlog_at_end = await _count(
                db,
                DUE_UNSENT,
            )

        ids = list(booked)
        drained_started = time.monotonic()
        await eventually(
            lambda: _all_handled(db, ids),
            timeout=300,
            interval=0.5,
            what="every provider event handled by provider_consumer",
        )
        drained_after = time.monotonic() - drained_started
        await eventually(
            lambda: _zero(
                _count(
                    db,
                    DUE_UNSENT,
                )
            ),
            timeout=60,
            what="outbox empty",
        )

        async def queues_empty() -> bool:
            return await queue_depths(settings) == {}

        await eventually(queues_empty, timeout=60, interval=0.5, what="queues empty")
    finally:
        api.close()

    assert set(statuses) == {201}, statuses
    assert len(booked) == BOOKINGS
    waiting = await _count(
        db,
        "SELECT count(*) FROM provider_inbox.requests "
        "WHERE booking_id = ANY($1::uuid[]) AND status = 'pending'",
        ids,
    )
    assert waiting == BOOKINGS - 1, "every request waits in its inbox but the accepted one"
    record(
        "load-burst",
        done=(
            f"{CLIENTS} clients book {BOOKINGS} fresh slots of {PROVIDERS} providers through "
            f"booking_api's HTTP API ({burst_took:.1f} s, {BOOKINGS / burst_took:.0f}/s); one "
            "booking is accepted halfway through"
        ),
        checked=(
            f"every answer 201; the accepted booking's user notice stored "
            f"{notice_latency[0]:.2f} s after the accept, in the middle of the "
            f"burst ({backlog_at_end} rows still unsent when it ended); every provider event "
            f"handled {drained_after:.1f} s after the burst, each booking in its provider's "
            "inbox (one row per booking by key) but the accepted one; outbox, queues and "
            "dead-letter queues empty"
        ),
        requests=sum(statuses.values()) + 1,
        faults=0,
        messages=BOOKINGS + 2,
        lost=0,
        doubled=0,
    )


async def _at_least(booked: dict[str, object], count: int) -> bool:
    return len(booked) >= count


async def _zero(count: Awaitable[int]) -> bool:
    return await count == 0


async def _all_handled(db: Database, ids: list[str]) -> bool:
    """Every provider-bound outbox row of these bookings processed by provider_consumer."""
    unhandled = await _count(
        db,
        "SELECT count(*) FROM booking.outbox o WHERE o.destination = $1 "
        "AND o.body->>'subject' = ANY($2::text[]) AND NOT EXISTS (SELECT 1 FROM "
        "provider_inbox.processed_messages p WHERE p.message_id = o.message_id)",
        PROVIDER_EVENTS,
        ids,
    )
    return unhandled == 0
