"""End to end at a fixed arrival rate: how long after a command commits its effect is
recorded by another process. The services run as `make run` runs them (real processes, the
deployed settings: outbox relays woken when rows are committed, consumers long-polling 20 s). The
requests come from the open-loop pacer (tests/bench/pacer.py), a process of its own that
sends request i at start + i / rate whatever the answers take, so a slow service meets more
work, not less. Each run sends fresh requests; every request's latency is read afterwards
from timestamps the system stores, and each run gives its p50, p99 and maximum.

- **Reward**: POST /checkout to checkout_api, the reward job through checkout's outbox and
  the Redis work queue to reward_worker. From the transaction's time
  (`transactions.created_at`, its checkout's event time) to `rewards_done_at` (the
  REWARDS_DISTRIBUTED event's time), split at the relay's claim of the job's outbox row
  (`outbox.sent_at`). Every buyer has an upline of five members, each credited at every
  checkout; the buyers are spread over eight such chains, so concurrent jobs meet on the
  same members' point balances as they would near the top of a real tree, but not all on
  the same five rows. The reward notices go to a queue of their own that nobody reads here.
- **Booking**: accept to booking_api, BOOKING_CONFIRMED through booking's outbox and the
  booking-confirmation SQS queue to notification_consumer, while provider_consumer consumes
  the booking-request queue. From the event's time (`events.occurred_at`) to the user's
  notification (`notifications.created_at`), split at the relay's claim (`outbox.sent_at`),
  the message's SQS `SentTimestamp` and the moment the consumer's receive returned it; those
  two are read at a proxy in front of the SQS server that sees every receive pass (one more
  local hop for each SQS call).

An event's time is taken while its command decides, a few ms before the commit; a relay's
claim and a notification's `created_at` are the start of their transactions. So a figure
counts the command's own commit and leaves out the last writer's, both short beside what is
measured. The services, PostgreSQL, Redis, the SQS server and the pacer share the 2 cores;
the notes give the load average when each scenario ended.

What bounds these figures, as sampled from `pg_stat_activity` and `pg_locks` during runs:

- (Pulled.) Every outbox insert used to fire a NOTIFY from a statement trigger, and
  PostgreSQL serialises the commits of notifying transactions on one lock (AccessExclusiveLock
  on object 0 of `pg_database`, held from pre-commit through the WAL flush, for every
  database of the server): the samples found more transactions waiting on that lock than
  holding it. The pool now wakes its own process's relays directly and other processes by
  a NOTIFY sent after the commit from a transaction that writes nothing.
- The relays run on their API's event loop: while the API is busy, each await of a relay
  step waits behind the requests' callbacks, so "committed to claimed by the relay" grows
  with the API's load, most when the API cannot keep the rate. A relay on a loop or in a
  process of its own would not queue behind requests.
- Reward jobs under the same upline credit the same members and wait on each other's row
  locks (ledger inserts waiting on a transaction lock in the samples); with one chain for
  every buyer the worker falls seconds behind, hence the eight chains."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextlib import ExitStack
from datetime import UTC, datetime

import aiohttp
import asyncpg

from shared.config import Settings
from tests.bench import http_data, loadgen, pacer
from tests.bench.e2e_timings import (
    BOOKING_TIMES,
    REWARD_TIMES,
    UNSENT,
    Receipts,
    Stages,
    fetch,
    spread,
    stages,
    start,
)
from tests.bench.http_data import bearer
from tests.bench.processes import free_port
from tests.bench.results import Result, figure
from tests.bench.sqs_proxy import counting_proxy
from tests.support.wait import eventually
from tools import commands

RUNS = 3
SECONDS = 10.0  # of paced requests per run
WARMUP_SECONDS = 2.0  # paced the same way before the runs, not measured
CHECKOUT_RATE = 200.0
ACCEPT_RATE = 100.0
BUYERS = 32
UPLINE = 5  # members above every buyer, each credited at each checkout
CHAINS = 8  # referral chains the buyers are spread over (the members of one share rows)
PROVIDERS = 16
PREFIX = "e2e-p"  # the providers' names
WAIT_TIME = 20  # the consumers' long poll, as deployed (the smoke test shortens it)
DRAIN_TIMEOUT = 120.0  # seconds the effects of one run may take to be recorded


async def run(settings: Settings) -> list[Result]:
    return [*await rewards(settings), *await bookings(settings)]


async def _until(probe: Callable[[], Awaitable[bool]], what: str) -> None:
    await eventually(probe, timeout=DRAIN_TIMEOUT, interval=0.2, what=what)


def _paced_notes(runs: list[pacer.Paced], rate: float) -> str:
    sent = sum(r.sent for r in runs)
    failed = sent - sum(r.succeeded for r in runs)
    notes = f"{len(runs)} runs of {SECONDS:g} s paced at {rate:g}/s, {sent:,} requests"
    if failed:
        notes += f", {failed} failed"
    reached = min(r.rate for r in runs)
    if reached < 0.95 * rate:
        notes += f"; the rate was not reached: {reached:.0f}/s in the slowest run"
    behind = max(r.behind_ms for r in runs)
    if behind > 50:
        notes += f"; the pacer sent up to {behind:.0f} ms late"
    return notes + f"; load average {os.getloadavg()[0]:.1f} at the end"


# Reward end to end --------------------------------------------------------------------------


async def _buyers(url: str, settings: Settings) -> tuple[list[str], str]:
    """BUYERS buyers with money, spread over CHAINS referral chains of UPLINE members each;
    and a product."""
    admin = {"Authorization": bearer(settings, "e2e-admin", "admin")}
    async with aiohttp.ClientSession(url, headers=admin) as http:

        async def post(path: str, body: Mapping[str, object]) -> str:
            headers = {"Idempotency-Key": str(uuid.uuid4())}
            async with http.post(path, json=body, headers=headers) as answer:
                if answer.status != 201:
                    raise RuntimeError(f"POST {path}: {answer.status} {await answer.text()}")
                return str((await answer.json()).get("id"))

        product = await post("/products", {"name": "End-to-end tea", "price": 250})
        ends = []
        for chain in range(CHAINS):
            referrer = None
            for depth in range(UPLINE):
                body = {"name": f"chain {chain} member {depth}", "referrer_id": referrer}
                referrer = await post("/customers", body)
            ends.append(referrer)
        buyers = [
            await post("/customers", {"name": f"buyer {i}", "referrer_id": ends[i % CHAINS]})
            for i in range(BUYERS)
        ]
        for buyer in buyers:
            await post("/wallet/top-ups", {"customer_id": buyer, "amount": 1_000_000_000})
    return buyers, product


def _checkouts(tokens: list[str], product: str, seconds: float) -> list[pacer.Request]:
    body = json.dumps({"items": [{"product_id": product, "quantity": 1}]})
    return [
        pacer.Request(
            "POST",
            "/checkout",
            {
                "Authorization": tokens[i % len(tokens)],
                "Content-Type": "application/json",
                "Idempotency-Key": str(uuid.uuid4()),
            },
            body,
        )
        for i in range(int(CHECKOUT_RATE * seconds))
    ]


async def _reward_run(
    database_url: str, url: str, requests: list[pacer.Request]
) -> tuple[pacer.Paced, list[asyncpg.Record]]:
    started = datetime.now(UTC)
    paced = await asyncio.to_thread(pacer.run, url, requests, CHECKOUT_RATE)

    async def recorded() -> bool:
        (row,) = await fetch(
            database_url,
            "SELECT count(*) FILTER (WHERE rewards_status = 'done') AS done, count(*) AS made "
            "FROM checkout.transactions WHERE created_at >= $1",
            started,
        )
        return bool(row["made"] >= paced.succeeded and row["done"] == row["made"])

    await _until(recorded, "every reward of the run")
    return paced, await fetch(database_url, REWARD_TIMES, started)


async def rewards(settings: Settings) -> list[Result]:
    base = settings.sqs_booking_confirmation_queue_url.rsplit("/", 1)[0]
    settings = settings.model_copy(
        update={
            "checkout_api_port": free_port(),
            "reward_worker_port": free_port(),
            "sqs_booking_confirmation_queue_url": f"{base}/e2e-notices-{uuid.uuid4().hex[:8]}",
            "shutdown_grace": 1.0,
        }
    )
    await commands.provision(settings)
    url = f"http://127.0.0.1:{settings.checkout_api_port}"
    ports = {name: getattr(settings, f"{name}_port") for name in ("checkout_api", "reward_worker")}
    with ExitStack() as stack:
        await start(stack, settings, ports)
        buyers, product = await _buyers(url, settings)
        tokens = [bearer(settings, buyer, "customer") for buyer in buyers]
        await _reward_run(settings.database_url, url, _checkouts(tokens, product, WARMUP_SECONDS))
        runs = [
            await _reward_run(settings.database_url, url, _checkouts(tokens, product, SECONDS))
            for _ in range(RUNS)
        ]
    paced = [p for p, _ in runs]
    notes = _paced_notes(paced, CHECKOUT_RATE) + f"; {UPLINE} members credited per checkout"
    at = f"at {CHECKOUT_RATE:g} checkouts/s"

    def stage(column: str) -> list[list[float]]:
        return [[float(row[column]) for row in rows] for _, rows in runs]

    return [
        *spread("reward end to end", stage("total"), notes, at),
        figure("reward end to end: checkouts/s reached", [p.rate for p in paced], "/s", notes),
        *spread(
            "reward: committed to job claimed by the relay", stage("claimed"), notes, top=False
        ),
        *spread("reward: job claimed to rewards recorded", stage("recorded"), notes, top=False),
        figure(f"POST /checkout {at}: p99 answer", [p.p99_ms for p in paced], "ms", notes),
    ]


# Booking end to end -------------------------------------------------------------------------


def _book(settings: Settings, url: str, slots: list[str], needed: int) -> None:
    """Book `slots` with wrk until `needed` bookings wait for an answer."""
    users = [bearer(settings, f"e2e-u{i}", "user") for i in range(16)]
    books = [
        loadgen.Request("POST", "/bookings", users[i % len(users)], json.dumps({"slot_id": s}))
        for i, s in enumerate(slots)
    ]

    def enough() -> bool:  # wrk runs its whole duration unless stopped
        return len(asyncio.run(http_data.pending_bookings(settings.database_url, PREFIX))) >= needed

    loadgen.run(url, books, connections=16, seconds=600, once=True, stop_when=enough)


async def _booking_run(
    database_url: str, url: str, requests: list[pacer.Request], receipts: Receipts
) -> tuple[pacer.Paced, Stages]:
    started = datetime.now(UTC)
    paced = await asyncio.to_thread(pacer.run, url, requests, ACCEPT_RATE)

    async def stored() -> bool:
        return len(await fetch(database_url, BOOKING_TIMES, started)) >= paced.succeeded

    await _until(stored, "every notification of the run")
    return paced, stages(await fetch(database_url, BOOKING_TIMES, started), receipts)


async def bookings(settings: Settings) -> list[Result]:
    receipts = Receipts(settings.sqs_booking_confirmation_queue_url)
    async with counting_proxy(settings.sqs_endpoint_url, receipts.observe) as (proxy, counts):
        names = ("booking_api", "provider_consumer", "notification_consumer")
        settings = settings.model_copy(
            update={
                **{f"{name}_port": free_port() for name in names},
                "sqs_endpoint_url": proxy,
                "consumer_wait_time": WAIT_TIME,
                "shutdown_grace": 1.0,  # stopping waits for a long poll at most this long
            }
        )
        url = f"http://127.0.0.1:{settings.booking_api_port}"
        per_run, warmup = int(ACCEPT_RATE * SECONDS), int(ACCEPT_RATE * WARMUP_SECONDS)
        stack = ExitStack()
        try:
            await start(stack, settings, {n: getattr(settings, f"{n}_port") for n in names})
            total = warmup + RUNS * per_run
            # A few more slots than accepts: a booking refused under load is not retried.
            slots_made = total + total // 20 + PROVIDERS
            await asyncio.to_thread(
                http_data.make_slots, url, settings, PROVIDERS, slots_made, 0, PREFIX
            )
            slots = await http_data.open_slots(settings.database_url, PREFIX)
            await asyncio.to_thread(_book, settings, url, slots, total)

            async def consumed() -> bool:  # the inbox has every request before accepts start
                (unsent,) = await fetch(settings.database_url, UNSENT)
                sent = counts.messages["SendMessageBatch"]
                deleted = counts.messages["DeleteMessageBatch"] + counts.messages["DeleteMessage"]
                return bool(unsent["count"] == 0 and 0 < sent <= deleted)

            await _until(consumed, "every booking request")
            pending = await http_data.pending_bookings(settings.database_url, PREFIX)
            if len(pending) < total:
                raise RuntimeError(f"{len(pending)} of {total} bookings were made")
            tokens = {p: bearer(settings, p, "provider") for _, p in pending}
            accepts = [
                pacer.Request(
                    "POST", f"/providers/{p}/bookings/{b}/accept", {"Authorization": tokens[p]}
                )
                for b, p in pending
            ]
            await _booking_run(settings.database_url, url, accepts[:warmup], receipts)
            runs = [
                await _booking_run(
                    settings.database_url,
                    url,
                    accepts[warmup + n * per_run : warmup + (n + 1) * per_run],
                    receipts,
                )
                for n in range(RUNS)
            ]
        finally:
            await asyncio.to_thread(stack.close)
    return _booking_figures(runs)


def _booking_figures(runs: list[tuple[pacer.Paced, Stages]]) -> list[Result]:
    paced = [p for p, _ in runs]
    notes = _paced_notes(paced, ACCEPT_RATE)
    at = f"at {ACCEPT_RATE:g} accepts/s"

    def stage(name: str) -> list[list[float]]:
        return [getattr(split, name) for _, split in runs]

    return [
        *spread("booking end to end", stage("total"), notes, at),
        figure("booking end to end: accepts/s reached", [p.rate for p in paced], "/s", notes),
        *spread("booking: committed to claimed by the relay", stage("claimed"), notes, top=False),
        *spread("booking: claimed to sent to SQS", stage("sent"), notes, top=False),
        *spread("booking: sent to received by the consumer", stage("received"), notes, top=False),
        *spread("booking: received to notification stored", stage("stored"), notes, top=False),
        figure(f"accept {at}: p99 answer", [p.p99_ms for p in paced], "ms", notes),
    ]
