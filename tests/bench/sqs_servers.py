"""Which local SQS server holds a backlog: call latency by queue depth, per candidate server.

    python -m tests.bench.sqs_servers [--only fauxqs] [--depths 500,2000,4000,10000,16000]

Each candidate runs on a loopback port of its own. For each depth the queue is filled to that
many messages, then measured with the calls the outbox relay and the consumers make, through
aioboto3 as the services use it: SendMessageBatch of 10 messages of an event's size, and a
receive of 10 followed by their release (ChangeMessageVisibilityBatch to 0, which keeps the
depth). A depth whose fill would take longer than --budget seconds at the last measured speed
is skipped and reported so. Then sqs_checks verifies the behaviour the suite relies on.
Prints Markdown (docs/sqs-server.md holds a run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aioboto3
from aiobotocore.config import AioConfig

from tests.bench.sqs_checks import ACCOUNT, run_checks
from tests.support.sqs_server import free_port
from tools import sqs_server


def moto_argv(port: int) -> list[str]:
    return [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)]


def fauxqs_argv(port: int) -> list[str]:
    return sqs_server.command("127.0.0.1", port)


CANDIDATES: dict[str, Callable[[int], list[str]]] = {"moto": moto_argv, "fauxqs": fauxqs_argv}
BODY = json.dumps({"id": str(uuid.uuid4()), "type": "BOOKING_CONFIRMED", "data": "x" * 500})
ATTRIBUTES = {
    name: {"DataType": "String", "StringValue": value}
    for name, value in {"event_type": "BOOKING_CONFIRMED", "event_id": "e", "trace": "t"}.items()
}


def start(argv: list[str], port: int, timeout: float = 60) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"{argv[0]} did not start") from None
            time.sleep(0.05)


def entries() -> list[dict[str, Any]]:
    return [{"Id": str(i), "MessageBody": BODY, "MessageAttributes": ATTRIBUTES} for i in range(10)]


async def depth(client: Any, url: str) -> int:
    got = await client.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(got["Attributes"]["ApproximateNumberOfMessages"])


async def fill(client: Any, url: str, count: int, concurrency: int = 4) -> None:
    batches = asyncio.Queue[None]()
    for _ in range(max(0, count) // 10):
        batches.put_nowait(None)

    async def sender() -> None:
        while not batches.empty():
            batches.get_nowait()
            await client.send_message_batch(QueueUrl=url, Entries=entries())

    await asyncio.gather(*(sender() for _ in range(concurrency)))


def summary(samples: list[float]) -> str:
    """Median and 95th percentile in milliseconds."""
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"{statistics.median(ms):.1f} / {p95:.1f}"


async def measure(client: Any, url: str, samples: int) -> dict[str, str]:
    sends, receives, releases = [], [], []
    for _ in range(samples):
        started = time.perf_counter()
        await client.send_message_batch(QueueUrl=url, Entries=entries())
        sends.append(time.perf_counter() - started)
    for _ in range(samples):
        started = time.perf_counter()
        got = await client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        received = time.perf_counter()
        release = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(got.get("Messages", []))
        ]
        assert len(release) == 10, f"received {len(release)} of 10"
        await client.change_message_visibility_batch(QueueUrl=url, Entries=release)
        receives.append(received - started)
        releases.append(time.perf_counter() - started)
    return {"send": summary(sends), "receive": summary(receives), "cycle": summary(releases)}


async def bench(
    name: str, depths: list[int], samples: int, budget: float
) -> tuple[list[str], dict[str, str]]:
    """Table rows of one candidate, and the outcome of each behaviour check."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = start(CANDIDATES[name](port), port)
    session = aioboto3.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    # One attempt and a long read timeout: a slow call is measured as slow, never retried.
    config = AioConfig(read_timeout=120, retries={"max_attempts": 1, "mode": "standard"})
    rows: list[str] = []
    try:
        async with session.client("sqs", endpoint_url=endpoint, config=config) as client:
            queue = f"bench-{uuid.uuid4().hex[:8]}"
            await client.create_queue(QueueName=queue, Attributes={"VisibilityTimeout": "30"})
            url = f"{endpoint}/{ACCOUNT}/{queue}"
            last_send = 0.0
            for target in depths:
                missing = target - await depth(client, url)
                estimate = missing / 10 * last_send
                if estimate > budget:
                    note = f"skipped: filling would take about {estimate:.0f} s"
                    rows.append(f"| {name} | {target:,} | | | | {note} |")
                    continue
                started = time.perf_counter()
                await fill(client, url, missing)
                filled = time.perf_counter() - started
                held = await depth(client, url)
                got = await measure(client, url, samples)
                last_send = float(got["send"].split(" / ")[0]) / 1000
                rows.append(
                    f"| {name} | {held:,} | {got['send']} | {got['receive']} | {got['cycle']} |"
                    f" filled {max(missing, 0):,} in {filled:.1f} s |"
                )
                print(rows[-1], file=sys.stderr, flush=True)
            checks = await run_checks(client, endpoint)
    finally:
        process.terminate()
        process.wait(10)
    return rows, checks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(CANDIDATES), action="append")
    parser.add_argument("--depths", default="500,2000,4000,10000,16000")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--budget", type=float, default=240, help="seconds to fill one depth")
    args = parser.parse_args()
    depths = [int(d) for d in args.depths.split(",")]
    print("| server | queued | SendMessageBatch ms (median / p95) | receive 10 ms | "
          "receive 10 + release ms | notes |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    findings = {}
    for name in args.only or list(CANDIDATES):
        rows, findings[name] = asyncio.run(bench(name, depths, args.samples, args.budget))
        print("\n".join(rows), flush=True)
    print()
    for name, checks in findings.items():
        print("\n".join(f"- {name}, {check}: {result}" for check, result in checks.items()))
    failed = any(r != "ok" for checks in findings.values() for r in checks.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
