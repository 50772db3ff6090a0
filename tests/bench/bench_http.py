"""HTTP APIs against their peer: booking_api and checkout_api run as `make run` runs them
(`python -m services.<name>`, real processes); wrk drives them from processes of its own
(tests/bench/wrk/requests.lua). Each write is a full transaction (event store, read models,
outbox, idempotency key). Throughput is the most wrk gets through 16 keep-alive
connections; the latencies are taken at about half of it (each connection pauses between
requests, so the rate reached is reported too). pgbench then runs the same SQL statements
on the same PostgreSQL with as many clients (tests/bench/pgbench/): the ratio says how close
the API comes to what the database alone can do. wrk, the services and PostgreSQL share the
machine's cores."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass

from shared.config import Settings
from tests.bench import http_data, loadgen, pgbench_peer
from tests.bench.http_data import BROWSE, bearer
from tests.bench.loadgen import Request, Run
from tests.bench.processes import free_port, rss_mib, service
from tests.bench.results import Result, figure, ratio

RUNS = 3
SECONDS = 5.0
CONNECTIONS = 16
PROVIDERS = 16
CALIBRATE = True  # one probe run at half load before the measured ones
# Open slots for one POST /bookings run, and pending bookings for one accept run: more than
# the fastest run gets through, so that no run sends a request twice (a second booking of a
# slot or accept of a booking is a 409, which wrk would count as a request).
SLOTS_PER_RUN = 8_000
ACCEPT_SHARE = 0.5  # pending bookings for one accept run, as a share of SLOTS_PER_RUN
BROWSE_SLOTS = 60
CUSTOMERS = 16


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    requests: Callable[[int], list[Request]]  # the requests of run number n
    peer: str  # the pgbench script of the same statements
    once: bool = False  # each request may succeed only once (a slot booked, a booking accepted)


def _notes(run_count: int) -> str:
    return f"{CONNECTIONS} connections, {SECONDS:g} s per run, {run_count} runs"


def _measure(target: Target) -> list[Result]:
    """RUNS at full speed, a calibration, then RUNS at about half the median rate."""
    runs = [
        loadgen.run(target.url, target.requests(i), connections=CONNECTIONS, seconds=SECONDS)
        for i in range(RUNS)
    ]
    best = figure(f"{target.name}: throughput", [r.rate for r in runs], "requests/s")
    # Each connection waits `delay` before each request: C / (delay + latency) = half rate.
    delay_ms = 1000 * CONNECTIONS / (best.value / 2)
    probes = []
    if CALIBRATE:
        probe = loadgen.run(
            target.url,
            target.requests(RUNS),
            connections=CONNECTIONS,
            seconds=SECONDS / 2,
            delay_ms=delay_ms,
        )
        probes.append(probe)
        delay_ms = max(0.0, delay_ms - probe.mean_ms)
    half: list[Run] = [
        loadgen.run(
            target.url,
            target.requests(RUNS + 1 + i),
            connections=CONNECTIONS,
            seconds=SECONDS,
            delay_ms=delay_ms,
        )
        for i in range(RUNS)
    ]
    notes = _notes(RUNS) + _refused(runs + half + probes, target.once)
    command = " ".join(loadgen.command(target.url, CONNECTIONS, SECONDS, 0))
    half_notes = f"{CONNECTIONS} connections pausing {delay_ms:.0f} ms, {RUNS} runs"
    return [
        figure(best.name, [r.rate for r in runs], "requests/s", notes, command),
        figure(
            f"{target.name}: rate reached at half load",
            [r.rate / best.value for r in half],
            "of max",
            half_notes,
        ),
        figure(f"{target.name}: p50 at half load", [r.p50_ms for r in half], "ms", half_notes),
        figure(f"{target.name}: p99 at half load", [r.p99_ms for r in half], "ms", half_notes),
    ]


def _refused(runs: list[Run], once: bool) -> str:
    """What the notes say of responses that are not counted as throughput: refusals by
    status, transport errors, and (`once`) a run that ran out of distinct requests."""
    statuses: dict[int, int] = {}
    for r in runs:
        for status, n in r.statuses.items():
            if status >= 400:
                statuses[status] = statuses.get(status, 0) + n
    errors = sum(r.failed for r in runs) - sum(statuses.values())
    parts = [f"{n} answered {status}" for status, n in sorted(statuses.items())]
    parts += [f"{errors} transport errors"] if errors > 0 else []
    if once and any(r.wrapped for r in runs):
        parts.append("a run ran out of requests and sent some again")
    return "; not counted: " + ", ".join(parts) if parts else ""


def _with_peer(
    target: Target, settings: Settings, product: str = "", provider: str = ""
) -> list[Result]:
    ours = _measure(target)
    peer = pgbench_peer.measure(
        target.peer, settings.database_url, CONNECTIONS, RUNS, product, provider
    )
    return [*ours, peer, ratio(f"{target.name} / pgbench", ours[0], peer, "throughput")]


def _slices(items: list[Request], size: int) -> Callable[[int], list[Request]]:
    def part(n: int) -> list[Request]:
        chosen = items[n * size : (n + 1) * size]
        if len(chosen) < CONNECTIONS:
            raise RuntimeError(f"run {n} has only {len(chosen)} requests prepared")
        return chosen

    return part


async def run(settings: Settings) -> list[Result]:
    settings = settings.model_copy(
        update={"booking_api_port": free_port(), "checkout_api_port": free_port()}
    )
    booking = f"http://127.0.0.1:{settings.booking_api_port}"
    checkout = f"http://127.0.0.1:{settings.checkout_api_port}"
    runs_per_target = 2 * RUNS + 1  # full speed, the calibration probe, half load
    with (
        service("booking_api", settings, settings.booking_api_port) as booking_pid,
        service("checkout_api", settings, settings.checkout_api_port) as checkout_pid,
    ):
        pids = {"booking_api": booking_pid, "checkout_api": checkout_pid}
        idle = {name: rss_mib(pid) for name, pid in pids.items()}
        total = round(SLOTS_PER_RUN * (1 + ACCEPT_SHARE)) * runs_per_target
        await asyncio.to_thread(
            http_data.make_slots, booking, settings, PROVIDERS, total, 0, "bench-p"
        )
        await asyncio.to_thread(http_data.make_slots, booking, settings, 1, BROWSE_SLOTS, 0, BROWSE)
        slots = await http_data.open_slots(settings.database_url, "bench-p")
        users = [bearer(settings, f"bench-u{i}", "user") for i in range(CONNECTIONS)]
        bookings = [
            Request("POST", "/bookings", users[i % len(users)], json.dumps({"slot_id": s}))
            for i, s in enumerate(slots)
        ]
        shop = await http_data.shop(checkout, settings, CUSTOMERS)
        await pgbench_peer.seed(settings.database_url, CONNECTIONS, RUNS)
        # Warm: after thousands of slot creations and the shop's setup.
        warm = {name: rss_mib(pid) for name, pid in pids.items()}
        results = await asyncio.to_thread(_targets, settings, booking, checkout, bookings, shop)
        return results + _memory(idle, warm, {name: rss_mib(pid) for name, pid in pids.items()})


def _memory(idle: dict[str, float], warm: dict[str, float], end: dict[str, float]) -> list[Result]:
    notes = "after every run above"
    results = []
    for name in idle:
        results += [
            Result(f"{name}: RSS idle", idle[name], "MiB", "just started"),
            Result(f"{name}: RSS warm", warm[name], "MiB", "after the setup requests"),
            Result(f"{name}: RSS at the end", end[name], "MiB", notes),
            Result(
                f"{name}: RSS growth after warm-up",
                100 * (end[name] - warm[name]) / warm[name],
                "%",
                notes,
            ),
        ]
    return results


def _targets(
    settings: Settings, booking: str, checkout: str, bookings: list[Request], shop: http_data.Shop
) -> list[Result]:
    runs_per_target = 2 * RUNS + 1
    measured, spare = (
        bookings[: SLOTS_PER_RUN * runs_per_target],
        bookings[SLOTS_PER_RUN * runs_per_target :],
    )
    results = _with_peer(
        Target("POST /bookings", booking, _slices(measured, SLOTS_PER_RUN), "book.sql", once=True),
        settings,
    )
    # The accept runs take the pending bookings the runs above made, and as many more as
    # the spare slots give, booked now (not timed), each once.
    http_data.book_each(booking, settings, spare, "bench-p")
    pending = asyncio.run(http_data.pending_bookings(settings.database_url))
    providers = {p: bearer(settings, p, "provider") for _, p in pending}
    accepts = [
        Request("POST", f"/providers/{p}/bookings/{b}/accept", providers[p]) for b, p in pending
    ]
    per_run = max(CONNECTIONS, len(accepts) // runs_per_target)
    results += _with_peer(
        Target("accept", booking, _slices(accepts, per_run), "accept.sql", once=True), settings
    )
    buyers = [bearer(settings, c, "customer") for c in shop.customers]
    body = json.dumps({"items": [{"product_id": shop.product, "quantity": 2}]})
    checkouts = [Request("POST", "/checkout", t, body, unique_key=True) for t in buyers]
    results += _with_peer(
        Target("POST /checkout", checkout, lambda n: checkouts, "checkout.sql"),
        settings,
        shop.product,
    )
    browse = bearer(settings, "bench-u0", "user")
    lists = [Request("GET", f"/available-slots?provider_id={BROWSE}0", browse)] * CONNECTIONS
    results += _with_peer(
        Target("GET /available-slots", booking, lambda n: lists, "available_slots.sql"),
        settings,
        provider=f"{BROWSE}0",
    )
    wallets = [Request("GET", "/wallet", t) for t in buyers]
    results += _with_peer(
        Target("GET /wallet", checkout, lambda n: wallets, "wallet.sql"), settings
    )
    return results
