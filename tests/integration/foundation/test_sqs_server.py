"""The local SQS server of `make run` and the tests: it absorbs a burst and stays on loopback."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from shared.config import Settings
from shared.messaging.sqs import sqs_client
from tests.support.sqs_server import SqsServer

BURST = 10_000
FILL_DEADLINE = 60.0
BODY = '{"type": "BOOKING_CONFIRMED", "data": "' + "x" * 500 + '"}'


async def fill(client: Any, url: str, count: int, deadline: float) -> None:
    """Send `count` messages in batches of 10, four calls at a time, failing past `deadline`."""
    remaining = list(range(count // 10))

    async def sender() -> None:
        while remaining:
            remaining.pop()
            entries = [{"Id": str(i), "MessageBody": BODY} for i in range(10)]
            await client.send_message_batch(QueueUrl=url, Entries=entries)
            assert time.monotonic() < deadline, f"{len(remaining) * 10} messages still unsent"

    await asyncio.gather(*(sender() for _ in range(4)))


async def latencies(client: Any, url: str, samples: int = 15) -> tuple[float, float]:
    """Median seconds of a SendMessageBatch of 10 and of a receive of 10 with their release."""
    sends, cycles = [], []
    for _ in range(samples):
        started = time.perf_counter()
        entries = [{"Id": str(i), "MessageBody": BODY} for i in range(10)]
        await client.send_message_batch(QueueUrl=url, Entries=entries)
        sends.append(time.perf_counter() - started)
        started = time.perf_counter()
        got = (await client.receive_message(QueueUrl=url, MaxNumberOfMessages=10))["Messages"]
        release = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(got)
        ]
        await client.change_message_visibility_batch(QueueUrl=url, Entries=release)
        cycles.append(time.perf_counter() - started)
    return statistics.median(sends), statistics.median(cycles)


async def backlog_stays_fast(settings: Settings) -> None:
    """The check itself, on any SQS endpoint the settings name."""
    async with sqs_client(settings, max_pool_connections=8, read_timeout=60) as client:
        name = f"burst-{uuid.uuid4().hex[:8]}"
        await client.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "30"})
        url = f"{settings.sqs_endpoint_url}/123456789012/{name}"
        await fill(client, url, BURST, time.monotonic() + FILL_DEADLINE)
        send, cycle = await latencies(client, url)
        counts = await client.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        await client.delete_queue(QueueUrl=url)
    assert int(counts["Attributes"]["ApproximateNumberOfMessages"]) >= BURST
    # Real SQS answers in tens of milliseconds whatever a queue holds; the relay's and the
    # consumers' timeouts are set for that. Generous bounds: the machine is shared.
    assert send < 0.1, f"SendMessageBatch took {send * 1000:.0f} ms with {BURST:,} queued"
    assert cycle < 0.2, f"a receive of 10 with release took {cycle * 1000:.0f} ms"


async def test_the_local_sqs_server_holds_ten_thousand_queued_messages_without_slowing_down(
    settings: Settings,
) -> None:
    await backlog_stays_fast(settings)


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp{,6} give them) listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.add(address)
    return found


def test_the_local_sqs_server_listens_on_loopback_only(sqs_server: SqsServer) -> None:
    assert listening_addresses(sqs_server.port) == {"0100007F"}  # 127.0.0.1, nothing else
