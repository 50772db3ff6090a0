"""Two booking_api processes on one port (API_PROCESSES=2, SO_REUSEPORT), as `make run` starts
them: both serve requests, and their two outbox relays publish each event exactly once."""

from __future__ import annotations

import asyncio
import http.client
import json
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.booking_api.typedefs import SCHEMA
from shared.config import Settings
from shared.http.auth import mint_token
from shared.storage.pool import Database
from tests.bench.processes import free_port, service
from tests.integration.booking.queues import receive
from tests.support import sockets
from tests.support.wait import eventually

CONNECTIONS = 24  # all on one process by chance: 2 in 2**24


@dataclass(frozen=True)
class Served:
    pids: set[int]  # the processes that accepted the connection
    statuses: tuple[int, int]  # of the slot's creation and of its booking
    booking_id: str


def _book_on_a_connection(
    settings: Settings, port: int, pids: list[int], provider: str, hour: int
) -> Served:
    """Create a slot and book it over one keep-alive connection; who served it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1, hours=hour)
        slot = {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()}
        as_provider = mint_token(settings.jwt_secret, provider, "provider")
        connection.request(
            "POST",
            f"/providers/{provider}/slots",
            json.dumps(slot),
            {"Authorization": f"Bearer {as_provider}", "Content-Type": "application/json"},
        )
        created = connection.getresponse()
        slot_id = json.loads(created.read())["id"]
        as_user = mint_token(settings.jwt_secret, f"user-{provider}-{hour}", "user")
        connection.request(
            "POST",
            "/bookings",
            json.dumps({"slot_id": slot_id}),
            {"Authorization": f"Bearer {as_user}", "Content-Type": "application/json"},
        )
        booked = connection.getresponse()
        booking_id = json.loads(booked.read())["id"]
        client_port = connection.sock.getsockname()[1]
        holders = sockets.accepted_by(port, client_port, pids)
        return Served(holders, (created.status, booked.status), booking_id)
    finally:
        connection.close()


async def test_two_processes_on_one_port_both_serve_and_publish_each_event_once(
    own_queues: Settings, db: Database
) -> None:
    port = free_port()
    settings = own_queues.model_copy(update={"booking_api_port": port, "api_processes": 2})
    provider = f"provider-{uuid.uuid4().hex[:12]}"
    with ExitStack() as stack:
        # The second one's /readyz may be answered by the first: listening is what tells.
        pids = [
            await asyncio.to_thread(stack.enter_context, service("booking_api", settings, port))
            for _ in range(2)
        ]

        async def both_listen() -> bool:
            return sockets.listening(port, pids) == set(pids)

        await eventually(both_listen, timeout=30, what="both processes listening")

        served = await asyncio.gather(
            *(
                asyncio.to_thread(_book_on_a_connection, settings, port, pids, provider, hour)
                for hour in range(CONNECTIONS)
            )
        )
        assert {s.statuses for s in served} == {(201, 201)}
        assert all(len(s.pids) == 1 for s in served), served
        per_process = Counter(pid for s in served for pid in s.pids)
        assert set(per_process) == set(pids), per_process

        bookings = [f"booking-{s.booking_id}" for s in served]
        async with db.acquire() as conn:
            created = {
                str(row["event_id"])
                for row in await conn.fetch(
                    f"SELECT event_id FROM {SCHEMA}.events "
                    "WHERE type = 'BOOKING_CREATED' AND stream_id = ANY($1)",
                    bookings,
                )
            }
        assert len(created) == CONNECTIONS
        received = await receive(
            settings, settings.sqs_booking_request_queue_url, created, settle=2
        )
    assert received.of(created).counts == dict.fromkeys(created, 1)
    async with db.acquire() as conn:
        attempts = await conn.fetch(
            f"SELECT attempts FROM {SCHEMA}.outbox WHERE message_id = ANY($1::uuid[])",
            list(created),
        )
    # One claim each: no row was sent by both relays, none failed and went again.
    assert [row["attempts"] for row in attempts] == [1] * CONNECTIONS
