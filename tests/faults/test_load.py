"""Load: the mixed workload for a fixed time (FAULTS_LOAD_SECONDS, 60 by default) with all five
processes up and webhooks on. No answer is a 5xx or otherwise unexpected; each process's memory
and its PostgreSQL connections stay flat after the warm-up; at the end every queue and outbox
is drained and every checkout rewarded."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from shared.config import Settings
from shared.messaging.sqs import sqs_client
from shared.storage.pool import Database
from tests.faults.harness import customers_via, referral_chain
from tests.faults.load_workload import Load, Urls
from tests.faults.processes import ServiceProcess, checkout_admin
from tests.faults.queues import queue_depths
from tests.faults.report import record
from tests.faults.rewards import wait_all_rewarded
from tests.support.http import serve
from tests.support.wait import eventually

SECONDS = float(os.environ.get("FAULTS_LOAD_SECONDS", "60"))
WARM_UP = min(15.0, SECONDS / 4)  # pools fill, caches and imports settle
SAMPLE_EVERY = 2.0
BOOKING_JOURNEYS = 6
CHECKOUT_BUYERS = 6
SERVICES = ["booking_api", "checkout_api", "provider_consumer", "notification_consumer",
            "reward_worker"]  # fmt: skip
# The bounds of "flat": after the warm-up a process's RSS grows by at most this much, and its
# database connections never exceed its pool's ceiling (DATABASE_POOL_MAX, plus one for the
# relay's LISTEN): a pool opens connections as the load asks, up to that ceiling, while a
# connection opened outside it (per request, or reopened without closing) grows past it.
RSS_GROWTH_BOUND = 40 * 2**20


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def _connections(db: Database) -> dict[str, int]:
    async with db.acquire() as conn:
        rows = await conn.fetch(
            "SELECT application_name AS name, count(*) AS n FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = ANY($1::text[]) "
            "GROUP BY application_name",
            SERVICES,
        )
    return {row["name"]: int(row["n"]) for row in rows}


@pytest.fixture
async def webhook_receiver() -> AsyncIterator[tuple[str, list[int]]]:
    """A webhook endpoint that accepts every delivery and counts them."""
    received: list[int] = []

    async def deliver(request: web.Request) -> web.Response:
        received.append(len(await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hooks", deliver)
    async with serve(app) as client:
        yield str(client.make_url("/hooks")), received


@pytest.mark.timeout(SECONDS + 300)
async def test_a_minute_of_mixed_load_stays_flat_and_drains(
    own_queues: Settings, db: Database, webhook_receiver: tuple[str, list[int]]
) -> None:
    hook_url, hooks = webhook_receiver
    settings = own_queues.model_copy(update={"webhook_url": hook_url, "consumer_wait_time": 1})
    stack = {
        name: ServiceProcess(
            name,
            settings.model_copy(
                update={"database_url": f"{settings.database_url}?application_name={name}"}
            ),
        )
        for name in SERVICES
    }
    samples: list[tuple[float, dict[str, int], dict[str, int]]] = []
    for process in stack.values():
        process.start()
    await asyncio.gather(*(process.ready() for process in stack.values()))
    connector = aiohttp.TCPConnector(limit=BOOKING_JOURNEYS + CHECKOUT_BUYERS + 8)
    async with aiohttp.ClientSession(connector=connector) as session:
        admin = checkout_admin(session, stack["checkout_api"])
        product = (await admin("/products", {"name": "Tea", "price": 100}))["id"]
        chain = await referral_chain(customers_via(admin), CHECKOUT_BUYERS)
        for buyer in chain[1:]:
            await admin("/wallet/top-ups", {"customer_id": buyer, "amount": 10**8})
        urls = Urls(*(stack[name].url for name in SERVICES[:4]))
        started = time.monotonic()
        load = Load(session, urls, settings.jwt_secret, started + SECONDS)
        rng = random.Random(len(chain))

        async def sample() -> None:
            while load.running():
                rss = {name: _rss(p.process.pid) for name, p in stack.items() if p.process}
                samples.append((time.monotonic() - started, rss, await _connections(db)))
                await asyncio.sleep(SAMPLE_EVERY)

        journeys = [
            load.book_journeys(random.Random(rng.random())) for _ in range(BOOKING_JOURNEYS)
        ]
        journeys += [
            load.checkouts(random.Random(rng.random()), buyer, product) for buyer in chain[1:]
        ]
        await asyncio.gather(sample(), *journeys)
        elapsed = time.monotonic() - started
    drained_in = time.monotonic()
    backlog = sum((await queue_depths(settings, dead_letters=False)).values())
    await wait_all_rewarded(db, load.transactions, timeout=180)

    left: dict[str, int] = {}

    async def drained() -> bool:
        # Each poll's counts replace the last ones: queue_depths names only the queues that
        # still hold a message, so a queue drained since the last poll must not keep its count.
        counts: dict[str, int] = {}
        async with db.acquire() as conn:
            for schema in ("booking", "checkout"):
                # Reminders wait in the outbox until their time (a day before the slot).
                counts[f"{schema}.outbox"] = await conn.fetchval(
                    f"SELECT count(*) FROM {schema}.outbox "
                    "WHERE sent_at IS NULL AND available_at <= now()"
                )
        counts.update(await queue_depths(settings, dead_letters=True))
        left.clear()
        left.update(counts)
        return not any(counts.values())

    try:
        await eventually(drained, timeout=120, interval=0.5, what="outboxes and queues drained")
    except AssertionError as exc:
        async with db.acquire() as conn:
            stuck = await conn.fetch(
                "SELECT destination, message_type, attempts, last_error, available_at - now() AS "
                "due_in FROM booking.outbox WHERE sent_at IS NULL AND available_at <= now() "
                "ORDER BY id LIMIT 3"
            )
        tails = {name: p.output(tail=1500) for name, p in stack.items()}
        tails["notification_consumer metrics"] = await _consumer_metrics(stack)
        tails["left on SQS"] = await _peek(settings, [q for q in left if "." not in q])
        raise AssertionError(f"{exc}; left: {left}; {[dict(r) for r in stuck]}; {tails}") from None
    drained_in = time.monotonic() - drained_in
    handled = await _handled(stack)
    outputs = {name: p.output() for name, p in stack.items()}
    for process in stack.values():
        process.close()

    warnings = [
        f"{name}: {line}"
        for name, p in stack.items()
        for line in p.output(tail=None).splitlines()
        if '"level": "warning"' in line or '"level": "error"' in line
    ]
    assert load.errors() == 0, (load.unexpected, warnings[-20:])
    assert hooks, "the webhook channel delivered"
    warm = [s for s in samples if s[0] <= WARM_UP]
    after = [s for s in samples if s[0] > WARM_UP]
    assert warm and len(after) >= 4, "enough samples on both sides of the warm-up"
    growth = {name: max(s[1][name] for s in after) - warm[-1][1][name] for name in SERVICES}
    assert all(g <= RSS_GROWTH_BOUND for g in growth.values()), (growth, outputs)
    ceiling = settings.database_pool_max + 1
    half = len(after) // 2
    conn_first = {name: max(s[2].get(name, 0) for s in after[:half]) for name in SERVICES}
    conn_last = {name: max(s[2].get(name, 0) for s in after[half:]) for name in SERVICES}
    assert all(max(s[2].get(n, 0) for s in samples) <= ceiling for n in SERVICES), (
        ceiling,
        conn_first,
        conn_last,
    )
    rss_mib = {name: round(warm[-1][1][name] / 2**20) for name in SERVICES}
    kinds: dict[str, int] = {}
    for (kind, _), n in load.statuses.items():
        kinds[kind] = kinds.get(kind, 0) + n
    record(
        "load-mixed",
        done=(
            f"{elapsed:.0f} s of mixed load with all five processes up and webhooks on: "
            f"{BOOKING_JOURNEYS} booking journeys (slot, book, accept or reject, some cancel) "
            f"and {CHECKOUT_BUYERS} buyers of a referral chain (cart and direct checkouts, "
            "refunds, reads), consumer read sides, hostile tokens; "
            + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
            + f" ({load.requests() / elapsed:.0f} requests/s)"
        ),
        checked=(
            "no 5xx, every answer the expected one (hostile tokens 401); after a "
            f"{WARM_UP:.0f} s warm-up RSS grew at most "
            + ", ".join(f"{n} {growth[n] / 2**20:+.1f} MiB (from {rss_mib[n]})" for n in SERVICES)
            + f" (bound {RSS_GROWTH_BOUND // 2**20} MiB); PostgreSQL connections, peak of the "
            "first and of the second half after it: "
            + ", ".join(f"{n} {conn_first[n]}, {conn_last[n]}" for n in SERVICES)
            + f" (bound: at most {ceiling} each, at every sample); outboxes due, SQS "
            "queues, dead-letter queues "
            f"drained and all {len(load.transactions)} checkouts rewarded "
            f"{drained_in:.1f} s after the load ({backlog} messages on the booking queues "
            "when it stopped); events handled: "
            + ", ".join(f"{n} {count}" for n, count in handled.items())
            + f"; {len(hooks)} webhooks delivered"
        ),
        requests=load.requests(),
        faults=0,
        messages=len(load.transactions) + len(hooks),
        lost=0,
        doubled=0,
    )


async def _handled(stack: dict[str, ServiceProcess]) -> dict[str, int]:
    """How many events each consumer handled, from its /metrics."""
    counts: dict[str, int] = {}
    async with aiohttp.ClientSession() as session:
        for name in ("provider_consumer", "notification_consumer"):
            async with session.get(f"{stack[name].url}/metrics") as response:
                text = await response.text()
            counts[name] = round(
                sum(
                    float(line.rsplit(" ", 1)[1])
                    for line in text.splitlines()
                    if line.startswith("sqs_consumer_handled_total{")
                )
            )
    return counts


async def _consumer_metrics(stack: dict[str, ServiceProcess]) -> str:
    """The consumers' own view of their queues, for a failure message."""
    lines = []
    async with aiohttp.ClientSession() as session:
        for name in ("provider_consumer", "notification_consumer"):
            async with session.get(f"{stack[name].url}/metrics") as response:
                text = await response.text()
            lines += [
                f"{name}: {line}"
                for line in text.splitlines()
                if line.startswith(("sqs_consumer_", "notifications_", "consumer_"))
                and not line.startswith(
                    ("sqs_consumer_handler_seconds", "sqs_consumer_message_age")
                )
            ]
    return "\n".join(lines)


async def _peek(settings: Settings, queues: list[str]) -> str:
    """What the queues still hold, for the failure message: every attribute SQS keeps of the
    queue, and a look at a visible message (visibility 0: it stays where it is)."""
    base = settings.sqs_booking_request_queue_url.rsplit("/", 1)[0]
    lines = []
    async with sqs_client(settings) as sqs:
        for name in queues:
            url = f"{base}/{name}"
            attributes = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
            looked = await sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=0,
                WaitTimeSeconds=1,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            lines.append(f"{name}: {attributes['Attributes']}; visible: {looked.get('Messages')}")
    return "\n".join(lines)
