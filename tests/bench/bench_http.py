"""HTTP APIs: requests per second and latency of the two write paths that matter most, each
a full transaction (event store, read models, outbox, idempotency key). The client runs in
the server's process and event loop, so both share one core: the server alone does better."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from services.checkout_api.app import create_app as create_checkout_app
from shared.config import Settings
from shared.http.lifecycle import DATABASE
from tests.bench.results import Result
from tests.integration.booking.api import running as running_booking
from tests.integration.checkout.conftest import Api as CheckoutApi
from tests.support.http import serve

REQUESTS = 400
CONCURRENCY = 20


async def _measure(name: str, call: Callable[[int], Awaitable[int]], expected: int) -> list[Result]:
    latencies: list[float] = []
    statuses: list[int] = []
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with gate:
            started = time.perf_counter()
            statuses.append(await call(i))
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(REQUESTS)))
    seconds = time.perf_counter() - started
    if set(statuses) != {expected}:
        raise AssertionError(f"{name}: unexpected statuses {sorted(set(statuses))}")
    cuts = statistics.quantiles(latencies, n=100)
    notes = f"{REQUESTS} requests, {CONCURRENCY} concurrent"
    return [
        Result(f"{name}: throughput", REQUESTS / seconds, "requests/s", notes),
        Result(f"{name}: latency p50", cuts[49] * 1000, "ms", notes),
        Result(f"{name}: latency p99", cuts[98] * 1000, "ms", notes),
    ]


async def _booking(settings: Settings) -> list[Result]:
    async with running_booking(settings) as api:
        provider = f"bench-{uuid.uuid4().hex[:8]}"
        slots = [
            (await api.create_slot(provider, hours_ahead=24 + i))["id"] for i in range(REQUESTS)
        ]

        async def book(i: int) -> int:
            response = await api.book(f"user-{i}", slots[i])
            return response.status

        return await _measure("POST /bookings", book, 201)


async def _checkout(settings: Settings) -> list[Result]:
    app = create_checkout_app(settings)
    async with serve(app) as client:
        await app[DATABASE].wait_ready(timeout=10)
        api = CheckoutApi(client, settings)
        product = await api.product("Bench tea", 250)
        buyers = [await api.customer(f"buyer {i}") for i in range(CONCURRENCY)]
        for buyer in buyers:
            await api.top_up(buyer, 10_000_000)
        body: dict[str, Any] = {"items": [{"product_id": product, "quantity": 2}]}

        async def checkout(i: int) -> int:
            response = await api.checkout(buyers[i % CONCURRENCY], body)
            return response.status

        return await _measure("POST /checkout", checkout, 201)


async def run(settings: Settings) -> list[Result]:
    return await _booking(settings) + await _checkout(settings)
