"""SQS calls per delivered event, at load: booking_api (its outbox relay publishes),
provider_consumer and notification_consumer run as real processes against the local SQS
server through a counting proxy (tests/bench/sqs_proxy.py); wrk books slots and accepts the
bookings as fast as it can for a while, then the run waits until every message sent has been
deleted by a consumer. Calls are counted per action where they leave the clients, idle long
polls included. One call per step per message (send, receive, delete) would be 3.0. Also the
resident memory of the two consumers, idle and after the run."""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack
from dataclasses import dataclass

from shared.config import Settings
from tests.bench import http_data, loadgen
from tests.bench.http_data import bearer
from tests.bench.loadgen import Request
from tests.bench.processes import free_port, rss_mib, service
from tests.bench.results import Result, figure
from tests.bench.sqs_proxy import Counts, counting_proxy

SECONDS = 5.0
RUNS = 3
WAIT_TIME = (
    20  # the consumers' long poll, as deployed (the smoke test shortens it: stops wait for it)
)
CONNECTIONS = 16
SLOTS = 3_000
DRAIN_TIMEOUT = 180.0
CONSUMERS = ("provider_consumer", "notification_consumer")
STEPS = {
    "send": ("SendMessage", "SendMessageBatch"),
    "receive": ("ReceiveMessage",),
    "delete": ("DeleteMessage", "DeleteMessageBatch"),
    "visibility": ("ChangeMessageVisibility", "ChangeMessageVisibilityBatch"),
}


def _sent(counts: Counts) -> int:
    return sum(counts.messages[a] for a in STEPS["send"])


def _deleted(counts: Counts) -> int:
    return sum(counts.messages[a] for a in STEPS["delete"])


async def _drain(counts: Counts) -> float:
    """Wait until consumers deleted every message sent; the seconds it took."""
    started = time.monotonic()
    while _deleted(counts) < _sent(counts):
        if time.monotonic() - started > DRAIN_TIMEOUT:
            raise TimeoutError(f"{_deleted(counts)} of {_sent(counts)} messages consumed")
        await asyncio.sleep(0.2)
    return time.monotonic() - started


def _load(settings: Settings, booking: str, slots: list[str]) -> int:
    users = [bearer(settings, f"sqs-u{i}", "user") for i in range(CONNECTIONS)]
    books = [
        Request("POST", "/bookings", users[i % CONNECTIONS], f'{{"slot_id": "{s}"}}')
        for i, s in enumerate(slots)
    ]
    made = loadgen.run(booking, books, connections=CONNECTIONS, seconds=SECONDS, once=True)
    pending = asyncio.run(http_data.pending_bookings(settings.database_url, "sqs-p"))
    tokens = {p: bearer(settings, p, "provider") for _, p in pending}
    accepts = [
        Request("POST", f"/providers/{p}/bookings/{b}/accept", tokens[p]) for b, p in pending
    ]
    if len(accepts) >= CONNECTIONS:
        done = loadgen.run(booking, accepts, connections=CONNECTIONS, seconds=SECONDS, once=True)
        return made.requests + done.requests
    return made.requests


async def run(settings: Settings) -> list[Result]:
    upstream = settings.sqs_endpoint_url
    async with counting_proxy(upstream) as (proxy, counts):
        ports = {name: free_port() for name in ("booking_api", *CONSUMERS)}
        settings = settings.model_copy(
            update={
                "sqs_endpoint_url": proxy,
                "booking_api_port": ports["booking_api"],
                "provider_consumer_port": ports["provider_consumer"],
                "notification_consumer_port": ports["notification_consumer"],
                "outbox_poll_interval": 0.5,
                # Stopping waits for a long poll in flight at most this long.
                "shutdown_grace": 1.0,
                "consumer_wait_time": WAIT_TIME,
            }
        )
        booking = f"http://127.0.0.1:{ports['booking_api']}"
        # The proxy serves on this event loop: start and stop the services off it.
        stack = ExitStack()
        try:
            started_pids = await asyncio.gather(
                *(
                    asyncio.to_thread(stack.enter_context, service(name, settings, port))
                    for name, port in ports.items()
                )
            )
            pids = dict(zip(ports, started_pids, strict=True))
            idle = {name: rss_mib(pids[name]) for name in CONSUMERS}
            await asyncio.to_thread(http_data.make_slots, booking, settings, 16, SLOTS, 0, "sqs-p")
            await _drain(counts)
            slots = await http_data.open_slots(settings.database_url, "sqs-p")
            share = len(slots) // RUNS
            runs = []
            for n in range(RUNS):
                counts.reset()
                started = time.monotonic()
                part = slots[n * share : (n + 1) * share]
                requests = await asyncio.to_thread(_load, settings, booking, part)
                await _drain(counts)
                runs.append(_per_event(counts, requests, time.monotonic() - started))
            end = {name: rss_mib(pids[name]) for name in CONSUMERS}
        finally:
            await asyncio.to_thread(stack.close)
    return _figures(runs, idle, end)


@dataclass(frozen=True)
class PerEvent:
    calls: dict[str, float]  # per step, calls per delivered event
    delivered: int
    requests: int
    seconds: float


def _per_event(counts: Counts, requests: int, seconds: float) -> PerEvent:
    delivered = _deleted(counts)
    if delivered == 0:
        raise RuntimeError("no message was delivered")
    calls = {
        step: sum(counts.calls[a] for a in actions) / delivered for step, actions in STEPS.items()
    }
    return PerEvent(calls, delivered, requests, seconds)


def _figures(runs: list[PerEvent], idle: dict[str, float], end: dict[str, float]) -> list[Result]:
    delivered = sum(r.delivered for r in runs)
    notes = f"{delivered:,} events delivered in {len(runs)} runs"
    results = [
        figure(f"{step}: calls per delivered event", [r.calls[step] for r in runs], "calls", notes)
        for step in STEPS
    ]
    totals = [sum(r.calls.values()) for r in runs]
    results += [
        figure("all four: calls per delivered event", totals, "calls", notes),
        figure(
            "all four / one call per step per message (3.0)",
            [t / 3 for t in totals],
            "ratio",
            notes,
        ),
    ]
    for name in idle:
        results += [
            Result(f"{name}: RSS idle", idle[name], "MiB", "just started"),
            Result(f"{name}: RSS after the runs", end[name], "MiB", notes),
            Result(f"{name}: RSS growth", 100 * (end[name] - idle[name]) / idle[name], "%", notes),
        ]
    return results
