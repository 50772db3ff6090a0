"""What the HTTP benchmarks send: providers, their open slots, buyers with money, a product,
made through the APIs themselves before any run is timed."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg

from shared.config import Settings
from shared.http.auth import mint_token
from tests.bench import loadgen
from tests.bench.loadgen import Request

BROWSE = "bench-browse"  # the provider (BROWSE0) whose open slots GET /available-slots lists


def bearer(settings: Settings, sub: str, role: str) -> str:
    return f"Bearer {mint_token(settings.jwt_secret, sub, role, ttl=24 * 3600)}"


@dataclass(frozen=True)
class Shop:
    customers: list[str]
    product: str


def slot_requests(
    settings: Settings, providers: int, count: int, first_hour: int, prefix: str
) -> list[Request]:
    """POST /providers/{p}/slots: `count` one-hour slots over the calendars of `providers`
    providers named prefix0, prefix1, ..."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    tokens = [bearer(settings, f"{prefix}{p}", "provider") for p in range(providers)]
    requests = []
    for i in range(count):
        provider = i % providers
        at = start + timedelta(hours=first_hour + i // providers)
        body = {"starts_at": at.isoformat(), "ends_at": (at + timedelta(hours=1)).isoformat()}
        path = f"/providers/{prefix}{provider}/slots"
        requests.append(Request("POST", path, tokens[provider], json.dumps(body)))
    return requests


CHUNK = 10_000  # requests per wrk data file (Lua allows a file 65,536 constants)
CONNECTIONS = 16


def make_slots(
    url: str, settings: Settings, providers: int, count: int, first_hour: int, prefix: str
) -> None:
    """Create slots with wrk (each request once, CHUNK at a time), failing if any was
    refused."""
    requests = slot_requests(settings, providers, count, first_hour, prefix)
    _each_once(url, requests, lambda: asyncio.run(count_slots(settings.database_url, prefix)))


def book_each(url: str, settings: Settings, bookings: list[Request], prefix: str) -> None:
    """Send each POST /bookings once (CHUNK at a time), not timed, for slots of the providers
    named `prefix`...; a refusal fails."""
    _each_once(url, bookings, lambda: asyncio.run(count_bookings(settings.database_url, prefix)))


def _each_once(url: str, requests: list[Request], made: Callable[[], int]) -> None:
    """Send each request once with wrk, CHUNK at a time; `made` counts what they made.

    wrk runs for its whole duration even when every thread has sent its last request, so a
    chunk ends once `made` has grown by the chunk, or has stopped growing a few short of it
    (as seen: up to 4 of 10,000): a thread that stops may drop a request in flight."""
    for start in range(0, len(requests), CHUNK):
        chunk = requests[start : start + CHUNK]
        target = made() + len(chunk)
        seen: list[int] = []

        def done_or_settled(target: int = target, seen: list[int] = seen) -> bool:
            seen.append(made())
            settled = len(seen) > 4 and seen[-1] == seen[-5] >= target - CONNECTIONS
            return seen[-1] >= target or settled

        done = loadgen.run(
            url, chunk, connections=CONNECTIONS, seconds=600, once=True, stop_when=done_or_settled
        )
        # A request in flight when wrk is stopped may count as an error.
        if done.failed > loadgen.THREADS:
            raise RuntimeError(f"{done.failed} of {done.requests} requests failed")


async def count_bookings(database_url: str, provider_prefix: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        found = await connection.fetchval(
            "SELECT count(*) FROM booking.bookings WHERE provider_id LIKE $1",
            provider_prefix + "%",
        )
    finally:
        await connection.close()
    return int(found)


async def count_slots(database_url: str, provider_prefix: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        found = await connection.fetchval(
            "SELECT count(*) FROM booking.slots WHERE provider_id LIKE $1", provider_prefix + "%"
        )
    finally:
        await connection.close()
    return int(found)


async def open_slots(database_url: str, provider_prefix: str) -> list[str]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT id FROM booking.slots WHERE status = 'open' AND provider_id LIKE $1 "
            "ORDER BY starts_at, id",
            provider_prefix + "%",
        )
    finally:
        await connection.close()
    return [str(row["id"]) for row in rows]


async def pending_bookings(database_url: str, prefix: str = "bench-p") -> list[tuple[str, str]]:
    """(booking id, provider id) of every pending booking the API made for the providers
    named `prefix`..., oldest first."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT id, provider_id FROM booking.bookings WHERE status = 'pending' "
            "AND provider_id LIKE $1 ORDER BY created_at",  # not pgbench's
            prefix + "%",
        )
    finally:
        await connection.close()
    return [(str(row["id"]), str(row["provider_id"])) for row in rows]


async def shop(url: str, settings: Settings, customers: int) -> Shop:
    """A product and `customers` buyers, each topped up far beyond what the runs spend."""
    admin = {"Authorization": bearer(settings, "bench-admin", "admin")}
    async with aiohttp.ClientSession(url) as http:

        async def post(path: str, body: object, **headers: str) -> dict[str, object]:
            async with http.post(path, json=body, headers={**admin, **headers}) as response:
                if response.status != 201:
                    raise RuntimeError(f"POST {path}: {response.status} {await response.text()}")
                return dict(await response.json())

        product = str((await post("/products", {"name": "Bench tea", "price": 250}))["id"])
        ids = await asyncio.gather(
            *(post("/customers", {"name": f"bench buyer {i}"}) for i in range(customers))
        )
        buyers = [str(body["id"]) for body in ids]
        for buyer in buyers:
            top_up = {"customer_id": buyer, "amount": 1_000_000_000}
            await post("/wallet/top-ups", top_up, **{"Idempotency-Key": str(uuid.uuid4())})
    return Shop(buyers, product)
