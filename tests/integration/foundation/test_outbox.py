"""The outbox relay against real SQS: delivery, wake-ups, concurrency, failures, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from shared.config import Settings
from shared.events import make_envelope
from shared.events.checkout import LevelUpgraded
from shared.http.app import create_base_app
from shared.messaging import outbox
from shared.messaging.outbox import OutboxMessage, Publisher
from shared.messaging.relay import PURGE_SLICE, OutboxRelay
from shared.messaging.sqs import SqsPublisher, sqs_client
from shared.storage.pool import Database, is_unavailable
from tests.support.http import serve
from tests.support.proxy import TcpProxy
from tests.support.sqs_server import SqsServer
from tests.support.wait import eventually

DEST = "test-destination"


@pytest.fixture
async def sqs(settings: Settings) -> AsyncIterator[Any]:
    async with sqs_client(settings) as client:
        yield client


@pytest.fixture
async def queue(sqs: Any) -> str:
    """A queue of this test's own on the session's SQS server."""
    created = await sqs.create_queue(QueueName=f"outbox-test-{uuid.uuid4().hex[:12]}")
    return str(created["QueueUrl"])


@pytest.fixture
async def start_relay(db: Database, schema: str) -> AsyncIterator[Callable[..., OutboxRelay]]:
    relays: list[tuple[OutboxRelay, asyncio.Task[None]]] = []

    def start(publisher: Publisher, **kwargs: Any) -> OutboxRelay:
        relay = OutboxRelay(db, schema, {DEST: publisher}, **kwargs)
        relays.append((relay, asyncio.create_task(relay.run())))
        return relay

    yield start
    for relay, task in relays:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await relay.close()


def envelope(n: int = 0) -> Any:
    payload = LevelUpgraded(customer_id=f"c-{n}", old_level=1, new_level=2, total_points=n)
    return make_envelope(payload, source="test", subject=f"c-{n}")


async def write(db: Database, schema: str, count: int) -> list[str]:
    """Commit `count` outbox rows in one transaction; return their message ids."""
    events = [envelope(n) for n in range(count)]
    async with db.transaction() as conn:
        for event in events:
            await outbox.add(conn, schema, DEST, event)
    return [str(e.id) for e in events]


class Receiver:
    """Reads the queue and counts deliveries by message (envelope) id."""

    def __init__(self, sqs: Any, url: str) -> None:
        self.sqs, self.url = sqs, url
        self.seen: Counter[str] = Counter()
        self.attributes: dict[str, dict[str, Any]] = {}

    async def poll(self) -> int:
        response = await self.sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        for message in messages:
            ident = json.loads(message["Body"])["id"]
            self.seen[ident] += 1
            self.attributes[ident] = message.get("MessageAttributes", {})
        return len(messages)

    async def wait_for(self, ids: list[str], timeout: float = 10.0) -> None:
        async def arrived() -> bool:
            while await self.poll():
                pass
            return set(ids) <= set(self.seen)

        await eventually(arrived, timeout=timeout, interval=0.05, what=f"{len(ids)} messages")

    async def drain(self) -> None:
        """Read until the queue stays empty twice: every duplicate would show up."""
        empty = 0
        while empty < 2:
            empty = 0 if await self.poll() else empty + 1


async def unsent(db: Database, schema: str) -> int:
    async with db.acquire() as conn:
        return int(
            await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE sent_at IS NULL")
        )


async def test_committed_rows_are_delivered_and_marked_sent(
    db: Database, schema: str, sqs: Any, queue: str, start_relay: Callable[..., OutboxRelay]
) -> None:
    start_relay(SqsPublisher(sqs, {DEST: queue}), poll_interval=0.2)
    ids = await write(db, schema, 25)
    receiver = Receiver(sqs, queue)
    await receiver.wait_for(ids)
    await eventually(lambda: _zero(unsent(db, schema)), what="all rows marked sent")
    await receiver.drain()
    assert receiver.seen == Counter(dict.fromkeys(ids, 1))
    attributes = receiver.attributes[ids[0]]
    assert attributes["eventType"]["StringValue"] == "LEVEL_UPGRADED"


async def _zero(value: Any) -> bool:
    return await value == 0


async def test_a_write_of_another_process_wakes_the_relay_by_notify(
    db: Database, schema: str, sqs: Any, queue: str, start_relay: Callable[..., OutboxRelay]
) -> None:
    """Another process: a pool of its own, which knows nothing of this relay but its channel."""
    relay = start_relay(SqsPublisher(sqs, {DEST: queue}), poll_interval=30.0)
    await eventually(_async(lambda: relay._listener is not None), what="the relay listening")
    other = Database(db.dsn)
    await other.start()
    await other.wait_ready(timeout=10)
    receiver = Receiver(sqs, queue)
    try:
        for _ in range(3):
            ids = await write(other, schema, 1)
            await receiver.wait_for(ids, timeout=10.0)
    finally:
        await other.close()


async def test_a_write_of_its_own_process_wakes_the_relay_directly(
    db: Database, schema: str, sqs: Any, queue: str, start_relay: Callable[..., OutboxRelay]
) -> None:
    """No NOTIFY inside the writing transaction (PostgreSQL serialises the commits of those),
    and none needed in-process: with the listener gone, the pool still wakes the relay."""
    async with db.acquire() as conn:
        triggers = await conn.fetchval(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal",
            f"{schema}.outbox",
        )
    assert triggers == 0
    relay = start_relay(SqsPublisher(sqs, {DEST: queue}), poll_interval=30.0)
    await eventually(_async(lambda: relay._listener is not None), what="the relay listening")
    await relay._close_listener()
    relay._ensure_listener = _nothing  # type: ignore[method-assign]  # it stays gone
    receiver = Receiver(sqs, queue)
    for _ in range(3):
        ids = await write(db, schema, 1)
        await receiver.wait_for(ids, timeout=10.0)


async def _nothing() -> None:
    return None


async def test_a_row_written_while_the_relay_publishes_is_not_left_for_the_poll(
    db: Database, schema: str, sqs: Any, queue: str, start_relay: Callable[..., OutboxRelay]
) -> None:
    """A wake-up that arrives during a drain must start another drain, not be forgotten."""
    inner = SqsPublisher(sqs, {DEST: queue})
    late: list[str] = []

    class WritesDuringPublish:
        max_batch = inner.max_batch

        async def publish(self, destination: str, messages: list[OutboxMessage]) -> dict[int, str]:
            if not late:
                late.extend(await write(db, schema, 1))
                # The drain goes on until the row's notification has reached the listener.
                await eventually(_async(relay._wakes[DEST].is_set), what="the notification")
            return await inner.publish(destination, messages)

    relay = start_relay(WritesDuringPublish(), poll_interval=30.0)
    await eventually(_async(lambda: relay._listener is not None), what="the relay listening")
    first = await write(db, schema, 1)
    receiver = Receiver(sqs, queue)
    await receiver.wait_for(first, timeout=10.0)
    await receiver.wait_for(late, timeout=10.0)


def _async(probe: Callable[[], bool]) -> Callable[[], Any]:
    async def run() -> bool:
        return probe()

    return run


async def test_a_rolled_back_transaction_sends_nothing(
    db: Database, schema: str, sqs: Any, queue: str, start_relay: Callable[..., OutboxRelay]
) -> None:
    start_relay(SqsPublisher(sqs, {DEST: queue}), poll_interval=0.2)
    lost = envelope(1)
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await outbox.add(conn, schema, DEST, lost)
            raise RuntimeError("the state change failed")
    marker = await write(db, schema, 1)
    receiver = Receiver(sqs, queue)
    await receiver.wait_for(marker)
    await receiver.drain()
    assert str(lost.id) not in receiver.seen
    async with db.acquire() as conn:
        assert await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox") == 1


class CountingPublisher:
    """Counts, by message id, what the relays hand to SQS and SQS accepts."""

    def __init__(self, inner: SqsPublisher, sent: Counter[str]) -> None:
        self.inner, self.sent = inner, sent
        self.max_batch = inner.max_batch

    async def publish(self, destination: str, messages: list[OutboxMessage]) -> dict[int, str]:
        failed = await self.inner.publish(destination, messages)
        self.sent.update(m.message_id for m in messages if m.id not in failed)
        return failed


async def test_three_relays_over_300_rows_never_send_twice(
    db: Database, schema: str, sqs: Any, queue: str, start_relay: Callable[..., OutboxRelay]
) -> None:
    sent: Counter[str] = Counter()
    for _ in range(3):
        publisher = CountingPublisher(SqsPublisher(sqs, {DEST: queue}), sent)
        start_relay(publisher, poll_interval=0.2, batch_size=20)
    batches = await asyncio.gather(*(write(db, schema, 10) for _ in range(30)))
    ids = [i for batch in batches for i in batch]
    await eventually(lambda: _zero(unsent(db, schema)), timeout=30, what="300 rows sent")
    assert set(sent) == set(ids)
    assert max(sent.values()) == 1
    # What the queue holds agrees (the local server's count is exact).
    attributes = await sqs.get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "300"


async def test_a_partial_batch_failure_retries_only_the_failed_rows(
    db: Database, schema: str, sqs: Any, queue: str, start_relay: Callable[..., OutboxRelay]
) -> None:
    inner = SqsPublisher(sqs, {DEST: queue})
    ids = await write(db, schema, 10)
    failing = {ids[2]: 2, ids[7]: 1}  # message id -> failures still to inject
    calls: Counter[str] = Counter()

    class FailsSomeIds:
        max_batch = inner.max_batch

        async def publish(self, destination: str, messages: list[OutboxMessage]) -> dict[int, str]:
            failed: dict[int, str] = {}
            passing = []
            for message in messages:
                calls[message.message_id] += 1
                if failing.get(message.message_id, 0) > 0:
                    failing[message.message_id] -= 1
                    failed[message.id] = "InternalError: injected"
                else:
                    passing.append(message)
            failed.update(await inner.publish(destination, passing) if passing else {})
            return failed

    start_relay(FailsSomeIds(), poll_interval=0.1, max_backoff=1.0)
    receiver = Receiver(sqs, queue)
    await receiver.wait_for(ids, timeout=15)
    await eventually(lambda: _zero(unsent(db, schema)), what="all rows marked sent")
    await receiver.drain()
    assert receiver.seen == Counter(dict.fromkeys(ids, 1))
    assert calls[ids[2]] == 3 and calls[ids[7]] == 2
    assert all(calls[i] == 1 for i in ids if i not in (ids[2], ids[7]))
    async with db.acquire() as conn:
        rows = {
            str(r["message_id"]): r
            for r in await conn.fetch(
                f"SELECT message_id, attempts, last_error FROM {schema}.outbox"
            )
        }
    assert rows[ids[2]]["attempts"] == 3
    assert rows[ids[7]]["attempts"] == 2
    assert "injected" in rows[ids[2]]["last_error"]
    assert rows[ids[0]]["attempts"] == 1 and rows[ids[0]]["last_error"] is None


@pytest.fixture
async def flaky_sqs(
    settings: Settings, sqs_server: SqsServer
) -> AsyncIterator[tuple[TcpProxy, Any]]:
    """An SQS client that reaches the server through a proxy the test cuts (down) and mends
    (up), with short timeouts and no retries of its own."""
    proxy = await TcpProxy("127.0.0.1", sqs_server.port).start()
    try:
        via_proxy = settings.model_copy(
            update={"sqs_endpoint_url": f"http://127.0.0.1:{proxy.port}"}
        )
        async with sqs_client(via_proxy, connect_timeout=1, max_attempts=1) as client:
            yield proxy, client
    finally:
        await proxy.close()


async def test_rows_wait_while_sqs_is_down_and_drain_when_it_is_back(
    settings: Settings,
    db: Database,
    schema: str,
    sqs: Any,
    queue: str,
    start_relay: Callable[..., OutboxRelay],
    flaky_sqs: tuple[TcpProxy, Any],
) -> None:
    proxy, flaky = flaky_sqs
    await proxy.down()
    start_relay(SqsPublisher(flaky, {DEST: queue}), poll_interval=0.1, max_backoff=1.0)
    ids = await write(db, schema, 15)

    async def all_tried() -> bool:
        async with db.acquire() as conn:
            return bool(
                await conn.fetchval(
                    f"SELECT bool_and(attempts >= 1 AND last_error IS NOT NULL "
                    f"AND sent_at IS NULL) FROM {schema}.outbox"
                )
            )

    await eventually(all_tried, what="every row tried while SQS is down")

    async def gauges_show_the_backlog() -> dict[str, float] | None:
        metrics = await _outbox_metrics(settings, schema)
        return metrics if metrics["depth"] == 15 and metrics["age"] > 0 else None

    # The gauges loop refreshes them every second, whatever the relay loops do.
    metrics = await eventually(gauges_show_the_backlog, what="the backlog in the gauges")
    receiver = Receiver(sqs, queue)
    await receiver.drain()
    assert not receiver.seen
    published_before = metrics["published"]

    await proxy.up()
    await receiver.wait_for(ids, timeout=15)
    await eventually(lambda: _zero(unsent(db, schema)), what="all rows marked sent")
    await receiver.drain()
    assert receiver.seen == Counter(dict.fromkeys(ids, 1))

    async def gauges_cleared() -> bool:
        metrics = await _outbox_metrics(settings, schema)
        return metrics["depth"] == 0 and metrics["age"] == 0

    await eventually(gauges_cleared, what="outbox gauges back to zero")
    metrics = await _outbox_metrics(settings, schema)
    assert metrics["published"] - published_before == 15


async def test_during_a_long_broker_outage_rows_stay_due_and_go_at_once_when_it_is_back(
    db: Database,
    schema: str,
    sqs: Any,
    queue: str,
    start_relay: Callable[..., OutboxRelay],
    flaky_sqs: tuple[TcpProxy, Any],
) -> None:
    """An outage backs off the loop, not each row: however often a row was tried, the
    backlog goes within the loop's backoff cap of the broker's return, never at the rows'
    own (here 60 s) backoff."""
    proxy, flaky = flaky_sqs
    await proxy.down()
    start_relay(SqsPublisher(flaky, {DEST: queue}), poll_interval=0.1, max_backoff=60.0)
    ids = await write(db, schema, 15)

    async def tried_often_and_still_due() -> bool:
        async with db.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT min(attempts) AS tries, bool_and(available_at <= now()) AS due "
                f"FROM {schema}.outbox WHERE sent_at IS NULL"
            )
        return row["tries"] is not None and row["tries"] >= 3 and row["due"]

    await eventually(tried_often_and_still_due, timeout=20, what="rows tried 3 times")
    receiver = Receiver(sqs, queue)
    await proxy.up()
    # The loop's backoff is capped at 5 s; a row's own would be 4 s and more by now.
    await receiver.wait_for(ids, timeout=7)
    await eventually(lambda: _zero(unsent(db, schema)), what="all rows marked sent")


async def _outbox_metrics(settings: Settings, schema: str) -> dict[str, float]:
    """The outbox series of this schema, as /metrics exposes them."""
    async with serve(create_base_app("metrics-test", settings)) as client:
        text = await (await client.get("/metrics")).text()
    values = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == f'outbox_depth{{schema="{schema}"}}':
            values["depth"] = float(value)
        elif name == f'outbox_oldest_unsent_age_seconds{{schema="{schema}"}}':
            values["age"] = float(value)
        elif name == f'outbox_published_total{{destination="{DEST}"}}':
            values["published"] = float(value)
    values.setdefault("published", 0.0)
    assert {"depth", "age"} <= values.keys(), "outbox gauges are not exposed"
    return values


async def test_sent_rows_past_their_retention_are_purged_and_unsent_rows_never(
    db: Database, schema: str
) -> None:
    await write(db, schema, 3)
    async with db.acquire() as conn:
        ids = [r["id"] for r in await conn.fetch(f"SELECT id FROM {schema}.outbox ORDER BY id")]
        await conn.execute(
            f"UPDATE {schema}.outbox SET sent_at = now() - interval '8 days' WHERE id = $1",
            ids[0],
        )
        await conn.execute(
            f"UPDATE {schema}.outbox SET sent_at = now() - interval '1 day' WHERE id = $1",
            ids[1],
        )
    relay = OutboxRelay(db, schema, {}, sent_retention=7 * 86_400)
    assert await relay.purge_sent() == 1
    async with db.acquire() as conn:
        left = [r["id"] for r in await conn.fetch(f"SELECT id FROM {schema}.outbox ORDER BY id")]
    assert left == ids[1:]


async def test_a_backlog_of_sent_rows_larger_than_a_purge_slice_goes_at_once(
    db: Database, schema: str, sqs: Any, queue: str, start_relay: Callable[..., OutboxRelay]
) -> None:
    """Purging one slice a minute falls behind a busy checkout; the loop keeps going while
    whole slices go."""
    backlog = PURGE_SLICE * 2 + 10
    async with db.acquire() as conn:
        await conn.execute(
            f"""INSERT INTO {schema}.outbox (destination, message_id, message_type, body, sent_at)
                SELECT $1, gen_random_uuid(), 'OLD', '{{}}'::jsonb, now() - interval '30 days'
                FROM generate_series(1, $2)""",
            DEST,
            backlog,
        )

    async def remaining() -> int:
        async with db.acquire() as conn:
            return int(await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox"))

    start_relay(SqsPublisher(sqs, {DEST: queue}))
    await eventually(lambda: _zero(remaining()), timeout=20.0, what="the sent backlog purged")


async def test_a_hung_destination_never_delays_the_rows_of_another(
    db: Database, schema: str, sqs: Any, queue: str
) -> None:
    """One broker that never answers (a publish deadline of 5 s each time) must not hold up
    a user's notice bound for another: each destination is relayed by a loop of its own."""
    hung = asyncio.Event()

    class NeverAnswers:
        max_batch = 10

        async def publish(self, destination: str, messages: list[OutboxMessage]) -> dict[int, str]:
            hung.set()
            await asyncio.Event().wait()
            return {}

    stuck = "stuck-destination"
    async with db.transaction() as conn:
        for n in range(20):
            await outbox.add(conn, schema, stuck, envelope(n))
    relay = OutboxRelay(
        db,
        schema,
        {stuck: NeverAnswers(), DEST: SqsPublisher(sqs, {DEST: queue})},
        publish_timeout=5.0,
    )
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.wait_for(hung.wait(), 10)
        ids = await write(db, schema, 3)
        # Well inside the hung publish's deadline: nothing waits behind it.
        await Receiver(sqs, queue).wait_for(ids, timeout=3.0)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_an_outbox_write_on_a_connection_that_broke_fails_as_unavailable(
    db: Database, schema: str
) -> None:
    """The pool's note of the outbox write must not hide the real error (a 503 at the edge)
    behind one of its own when the connection broke mid-transaction: asyncpg has detached
    it from the pool by the time the transaction's end fails."""
    with pytest.raises(Exception) as raised:  # the kind is what is checked
        async with db.transaction() as conn:
            await outbox.add(conn, schema, DEST, envelope())
            conn.terminate()
    assert is_unavailable(raised.value), repr(raised.value)
