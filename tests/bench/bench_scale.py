"""Scale-out on one machine. HTTP: 1, 2 and 4 booking_api processes on one port
(`API_PROCESSES`, SO_REUSEPORT), as `make run` starts them, driven by wrk
(tests/bench/wrk/requests.lua) with POST /bookings (a full write: event store, read models,
outbox, idempotency) and GET /bookings/{id} (one indexed read). Queues: 1 and 3 replicas of
notification_consumer draining a queue filled beforehand with BOOKING_CONFIRMED events, and of
reward_worker draining reward jobs queued beforehand (Redis), each replica a process of its
own. The work is held back while the replicas start: the consumers wait on a lock the
benchmark holds on the table of processed events (each takes its first messages and waits),
the work queue is paused. The clock starts when the last replica is ready and the work is
released, and stops at the last event or job done. Each configuration starts afresh in every
round, the rounds one after another, so the machine's load falls on all of them alike.
Speed-up is the rate over the one-process rate (range: worst and best pairing of runs); the
cores used are the CPU time of the processes measured over the run's time (/proc), the
machine's busy share that of every process on it.

Where it stops being linear: the machine has 2 cores, and wrk, PostgreSQL, Redis, the SQS
server and every process measured share them, with whatever else runs there (the load average
is in the notes). More processes scale linearly while the cores they use grow with their number
and their throughput per core used holds. It stops where the machine is 100 % busy: from there
a process more adds no core, it only wins a larger share of the same two from the rest (so on a
machine busy with other work, 4 processes still get more than 1). On 2 cores it comes at the
second API process at the latest: a process is one event loop, at most a core, and wrk and
PostgreSQL need CPU of their own beside two of them. Where the throughput per core falls as
processes are added (the writes, the consumer, the worker), the processes also wait on
PostgreSQL, which runs on the same cores and is then the bound; a read (GET /bookings/{id})
keeps most of its throughput per core (4 event loops switching on 2 cores cost some), so it
scales with the cores it is given."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from shared.config import Settings
from shared.events.booking import BookingConfirmed
from shared.events.checkout import CheckoutCompleted
from shared.events.envelope import make_envelope
from shared.messaging.destinations import USER_NOTICES
from shared.messaging.outbox import OutboxMessage
from shared.messaging.sqs import SqsPublisher, provision_queues, sqs_client
from shared.workqueue import NewJob, create_work_queue
from shared.workqueue.base import admin
from tests.bench import http_data, loadgen
from tests.bench.http_data import bearer
from tests.bench.loadgen import Request
from tests.bench.processes import free_port, service
from tests.bench.results import Result, figure, ratio
from tests.support import sockets

PROCESSES = (1, 2, 4)  # booking_api processes on one port
REPLICAS = (1, 3)  # consumer and worker processes
RUNS = 3
SECONDS = 5.0
CONNECTIONS = 32  # enough for the kernel to spread them evenly over 4 processes
PROVIDERS = 16
SLOTS_PER_RUN = 3_000  # a POST /bookings run books each slot once at most
EVENTS = 3_000  # per consumer drain
JOBS = 4_000  # per worker drain
# Referral chains of 7 customers, a buyer at the foot of each: jobs of one chain credit the
# same 6 rows, so few chains would measure waits on row locks rather than the worker.
CHAINS = 1_000
DRAIN_TIMEOUT = 300.0
PREFIX = "scale-p"
PROCESSED = "notifications.processed_messages"  # one row per event a consumer applied
TRANSACTIONS = "checkout.transactions"  # a reward job marks its checkout's rewards done
TICK = os.sysconf("SC_CLK_TCK")  # clock ticks per second of /proc's CPU times


@dataclass(frozen=True)
class Cpu:
    """A reading of CPU time: of the processes measured, and of the whole machine."""

    at: float  # monotonic seconds
    used: float  # CPU seconds the processes measured have used
    busy: int  # the machine's busy clock ticks, every core
    total: int  # the machine's clock ticks, every core

    @classmethod
    def read(cls, pids: list[int]) -> Cpu:
        used = 0
        for pid in pids:
            # After the command's closing parenthesis: state, ..., utime and stime at 11, 12.
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used += int(fields[11]) + int(fields[12])
        ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        idle = ticks[3] + ticks[4]  # idle and iowait
        return cls(time.monotonic(), used / TICK, sum(ticks) - idle, sum(ticks))


@dataclass(frozen=True)
class Measured:
    """One run: its rate, the cores its processes used, how busy the machine was."""

    rate: float
    cores: float
    busy: float  # percent of the machine's CPU time

    @classmethod
    def between(cls, rate: float, before: Cpu, after: Cpu) -> Measured:
        cores = (after.used - before.used) / (after.at - before.at)
        busy = 100 * (after.busy - before.busy) / max(1, after.total - before.total)
        return cls(rate, cores, busy)


@dataclass(frozen=True)
class Rates:
    """Runs of one measure, by process count."""

    name: str
    unit: str
    notes: str
    runs: dict[int, list[Measured]]

    def results(self, nouns: tuple[str, str], command: str = "") -> list[Result]:
        """Throughput, cores used (and throughput per core) and machine busy of each count,
        then each speed-up over the smallest count."""

        def label(n: int) -> str:
            return f"{self.name}, {n} {nouns[n > 1]}"

        out = []
        medians = {}
        for n, runs in self.runs.items():
            rates = [r.rate for r in runs]
            medians[n] = figure(f"{label(n)}: throughput", rates, self.unit, self.notes, command)
            out += [
                medians[n],
                figure(f"{label(n)}: cores used", [r.cores for r in runs], "cores", self.notes),
                figure(f"{label(n)}: machine CPU busy", [r.busy for r in runs], "%", self.notes),
            ]
            # A run too short for a clock tick of CPU has no rate per core.
            if per_core := [r.rate / r.cores for r in runs if r.cores]:
                unit = f"{self.unit} per core"
                out.append(
                    figure(f"{label(n)}: throughput per core used", per_core, unit, self.notes)
                )
        one = medians[min(medians)]
        out += [
            ratio(f"{label(n)}: speed-up over 1", m, one, self.notes)
            for n, m in medians.items()
            if n != min(medians)
        ]
        return out


async def run(settings: Settings) -> list[Result]:
    return [
        *await _http(settings),
        *await _drains(
            "notification_consumer drain",
            "notification_consumer_port",
            _fill_events,
            settings,
        ),
        *await _drains("reward_worker drain", "reward_worker_port", _fill_jobs, settings),
    ]


def _load(after_each_run: list[float]) -> str:
    """The machine's load, which bounds what more processes can add on a shared machine."""
    return f"load average {min(after_each_run):.1f} to {max(after_each_run):.1f} after the runs"


# HTTP: booking_api processes on one port.


@contextmanager
def _on_one_port(settings: Settings, processes: int) -> Iterator[tuple[str, list[int]]]:
    """`processes` booking_api processes listening on one port; yields its URL and their
    pids."""
    port = free_port()
    shared = settings.model_copy(update={"booking_api_port": port, "api_processes": processes})
    with ExitStack() as stack:
        pids = [stack.enter_context(service("booking_api", shared, port)) for _ in range(processes)]
        # /readyz may be answered by an earlier process: wait until every one listens.
        deadline = time.monotonic() + 30
        while sockets.listening(port, pids) != set(pids):
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {sockets.listening(port, pids)} of {pids} listen")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", pids


async def _http(settings: Settings) -> list[Result]:
    rounds = RUNS * len(PROCESSES)
    with _on_one_port(settings, max(PROCESSES)) as (url, _):
        await asyncio.to_thread(
            http_data.make_slots, url, settings, PROVIDERS, SLOTS_PER_RUN * rounds, 0, PREFIX
        )
    slots = await http_data.open_slots(settings.database_url, PREFIX)
    users = [bearer(settings, f"scale-u{i}", "user") for i in range(CONNECTIONS)]
    books = [
        Request("POST", "/bookings", users[i % CONNECTIONS], json.dumps({"slot_id": s}))
        for i, s in enumerate(slots)
    ]
    writes: dict[int, list[Measured]] = {n: [] for n in PROCESSES}
    reads: dict[int, list[Measured]] = {n: [] for n in PROCESSES}
    failed = 0
    loads = []
    for round_ in range(RUNS):
        for i, processes in enumerate(PROCESSES):
            part = (round_ * len(PROCESSES) + i) * SLOTS_PER_RUN
            with _on_one_port(settings, processes) as (url, pids):
                before = Cpu.read(pids)
                write = await asyncio.to_thread(
                    loadgen.run,
                    url,
                    books[part : part + SLOTS_PER_RUN],
                    connections=CONNECTIONS,
                    seconds=SECONDS,
                    once=True,
                )
                writes[processes].append(Measured.between(write.rate, before, Cpu.read(pids)))
                gets = await _booking_reads(settings, users)
                before = Cpu.read(pids)
                read = await asyncio.to_thread(
                    loadgen.run, url, gets, connections=CONNECTIONS, seconds=SECONDS
                )
                reads[processes].append(Measured.between(read.rate, before, Cpu.read(pids)))
            failed += write.failed + read.failed
            loads.append(os.getloadavg()[0])
    notes = f"{CONNECTIONS} connections, {SECONDS:g} s per run, {RUNS} runs; {_load(loads)}"
    notes += f"; {failed} requests failed" if failed else ""
    command = " ".join(loadgen.command("URL", CONNECTIONS, SECONDS, 0))
    return [
        *Rates("POST /bookings", "requests/s", notes, writes).results(
            ("process", "processes"), command
        ),
        *Rates("GET /bookings/{id}", "requests/s", notes, reads).results(
            ("process", "processes"), command
        ),
    ]


async def _booking_reads(settings: Settings, users: list[str]) -> list[Request]:
    """GET /bookings/{id} of bookings the benchmark's users made, each by its owner."""
    token = {f"scale-u{i}": t for i, t in enumerate(users)}
    connection = await asyncpg.connect(settings.database_url)
    try:
        rows = await connection.fetch(
            "SELECT id, user_id FROM booking.bookings WHERE provider_id LIKE $1 LIMIT $2",
            PREFIX + "%",
            10 * CONNECTIONS,
        )
    finally:
        await connection.close()
    return [Request("GET", f"/bookings/{row['id']}", token[row["user_id"]]) for row in rows]


# Queues: replicas draining what was queued before they started.


@dataclass(frozen=True)
class Backlog:
    """What one drain works through, queued before its replicas start."""

    settings: Settings  # pointing at a queue of its own
    count: int
    done: Callable[[], Awaitable[int]]  # how many are done so far
    # Holds the work back until every replica is ready; returns what releases it (a second
    # call of which does nothing).
    hold: Callable[[], Awaitable[Callable[[], Awaitable[None]]]]
    clear: Callable[[], Awaitable[None]]  # what to remove from a shared server after


async def _drains(
    name: str, port_setting: str, fill: Callable[[Settings], Awaitable[Backlog]], settings: Settings
) -> list[Result]:
    settings = settings.model_copy(
        update={"consumer_wait_time": 1, "shutdown_grace": 2.0, "outbox_poll_interval": 0.5}
    )
    rates: dict[int, list[Measured]] = {n: [] for n in REPLICAS}
    total = 0
    loads = []
    for _ in range(RUNS):
        for replicas in REPLICAS:
            backlog = await fill(settings)
            try:
                rates[replicas].append(await _drain(name, port_setting, backlog, replicas))
            finally:
                await backlog.clear()
            total += backlog.count
            loads.append(os.getloadavg()[0])
    notes = f"{total:,} in all, {RUNS} runs per replica count; {_load(loads)}"
    unit = "events/s" if "consumer" in name else "jobs/s"
    return Rates(name, unit, notes, rates).results(("replica", "replicas"))


async def _drain(name: str, port_setting: str, backlog: Backlog, replicas: int) -> Measured:
    """Start `replicas` processes while the backlog is held, release it once all are ready,
    and time the drain."""
    service_name = name.split()[0]
    ports = [free_port() for _ in range(replicas)]
    release = await backlog.hold()
    stack = ExitStack()
    try:
        pids = await asyncio.gather(
            *(
                asyncio.to_thread(
                    stack.enter_context,
                    service(service_name, backlog.settings.model_copy(update={port_setting: p}), p),
                )
                for p in ports
            )
        )
        if await backlog.done():
            raise RuntimeError(f"{name}: work was done while held")
        before = Cpu.read(pids)
        await release()
        while (finished := await backlog.done()) < backlog.count:
            if time.monotonic() - before.at > DRAIN_TIMEOUT:
                raise TimeoutError(f"{name}: {finished} of {backlog.count} done")
            await asyncio.sleep(0.05)
        after = Cpu.read(pids)
    finally:
        await release()  # a second time is a no-op
        await asyncio.to_thread(stack.close)
    if finished != backlog.count:
        raise RuntimeError(f"{name}: {finished} done of {backlog.count}")
    return Measured.between(backlog.count / (after.at - before.at), before, after)


async def _lock(database_url: str, table: str) -> Callable[[], Awaitable[None]]:
    """Hold an exclusive lock on `table` (reads go on, writes wait); return its release."""
    connection = await asyncpg.connect(database_url)
    held = connection.transaction()
    await held.start()
    await connection.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")

    async def release() -> None:
        if not connection.is_closed():
            await held.commit()
            await connection.close()

    return release


async def _count(database_url: str, query: str, ids: list[uuid.UUID]) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return int(await connection.fetchval(query, ids))
    finally:
        await connection.close()


async def _fill_events(settings: Settings) -> Backlog:
    """A queue of its own holding EVENTS BOOKING_CONFIRMED events, sent in batches of 10."""
    base = settings.sqs_booking_confirmation_queue_url.rsplit("/", 1)[0]
    url = f"{base}/scale-{uuid.uuid4().hex[:10]}"
    mine = settings.model_copy(update={"sqs_booking_confirmation_queue_url": url})
    ids = []
    async with sqs_client(mine, max_pool_connections=20) as client:
        await provision_queues(client, [url])
        publisher = SqsPublisher(client, {USER_NOTICES: url})
        messages = []
        for i in range(EVENTS):
            at = time.time()
            envelope = make_envelope(
                BookingConfirmed(
                    booking_id=uuid.uuid4(),
                    slot_id=uuid.uuid4(),
                    user_id=f"scale-u{i % CONNECTIONS}",
                    provider_id=f"{PREFIX}0",
                    starts_at=_utc(at + 86_400),
                    ends_at=_utc(at + 90_000),
                ),
                source="booking_api",
                subject=str(i),
            )
            ids.append(envelope.id)
            body = json.loads(envelope.model_dump_json())
            messages.append(
                OutboxMessage(
                    i,
                    USER_NOTICES,
                    str(envelope.id),
                    envelope.type,
                    body,
                    {"eventType": envelope.type},
                )
            )
        batches = [messages[i : i + publisher.max_batch] for i in range(0, EVENTS, 10)]
        for start in range(0, len(batches), 20):
            refused = await asyncio.gather(
                *(publisher.publish(USER_NOTICES, b) for b in batches[start : start + 20])
            )
            if any(refused):
                raise RuntimeError(f"the SQS server refused events: {refused}")
    query = f"SELECT count(*) FROM {PROCESSED} WHERE message_id = ANY($1::uuid[])"

    async def hold() -> Callable[[], Awaitable[None]]:
        return await _lock(settings.database_url, PROCESSED)

    async def nothing() -> None:
        pass  # the SQS server is the benchmark's own

    done = functools.partial(_count, settings.database_url, query, ids)
    return Backlog(mine, EVENTS, done, hold, nothing)


async def _fill_jobs(settings: Settings) -> Backlog:
    """A work queue of its own holding JOBS reward jobs, one per pending checkout of a buyer
    at the foot of a referral chain."""
    mine = settings.model_copy(update={"work_queue_name": f"scale-{uuid.uuid4().hex[:10]}"})
    connection = await asyncpg.connect(settings.database_url)
    try:
        chains = [[uuid.uuid4() for _ in range(7)] for _ in range(CHAINS)]
        # Each chain root first: checkout derives a customer's upline from the referrer.
        await connection.executemany(
            "INSERT INTO checkout.customers (id, name, referrer_id) VALUES ($1, $2, $3)",
            [
                (member, f"scale-{c}-{depth}", chain[depth - 1] if depth else None)
                for c, chain in enumerate(chains)
                for depth, member in enumerate(chain)
            ],
        )
        purchases = [(chains[i % CHAINS][-1], 1_000 + i) for i in range(JOBS)]
        ids = [uuid.uuid4() for _ in purchases]
        await connection.copy_records_to_table(
            "transactions",
            schema_name="checkout",
            columns=["id", "customer_id", "total", "balance_after"],
            records=[(t, b, total, 0) for t, (b, total) in zip(ids, purchases, strict=True)],
        )
    finally:
        await connection.close()
    queue = create_work_queue(mine)
    try:
        await queue.enqueue_many(
            [
                NewJob("CHECKOUT_COMPLETED", _reward_job(t, b, total), job_id=str(t))
                for t, (b, total) in zip(ids, purchases, strict=True)
            ]
        )
    finally:
        await queue.close()
    query = (
        f"SELECT count(*) FROM {TRANSACTIONS} "
        "WHERE id = ANY($1::uuid[]) AND rewards_status = 'done'"
    )

    async def hold() -> Callable[[], Awaitable[None]]:
        queue = create_work_queue(mine)
        await queue.pause()
        paused = True

        async def resume() -> None:
            nonlocal paused
            if paused:
                paused = False
                await queue.resume()
                await queue.close()

        return resume

    async def clear() -> None:
        queue = create_work_queue(mine)
        try:
            await admin(queue).delete_everything()
        finally:
            await queue.close()

    done = functools.partial(_count, settings.database_url, query, ids)
    return Backlog(mine, JOBS, done, hold, clear)


def _reward_job(transaction: uuid.UUID, buyer: uuid.UUID, total: int) -> dict[str, object]:
    """The CHECKOUT_COMPLETED envelope checkout_api queues, as the job's payload."""
    payload = CheckoutCompleted(transaction_id=transaction, customer_id=str(buyer), total=total)
    return make_envelope(payload, source="checkout_api", subject=str(transaction)).model_dump(
        mode="json"
    )


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
