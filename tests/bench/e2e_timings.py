"""What the end-to-end benchmark reads: the SQL of the timestamps the system stores, the
SQS timestamps of each message as the calls pass the proxy, and percentiles over runs."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import ExitStack
from dataclasses import dataclass

import asyncpg

from shared.config import Settings
from shared.messaging.destinations import REWARD_JOBS, USER_NOTICES
from tests.bench.processes import service
from tests.bench.results import Result, figure

REWARD_TIMES = f"""
    SELECT 1000 * extract(epoch FROM t.rewards_done_at - t.created_at) AS total,
           1000 * extract(epoch FROM o.sent_at - t.created_at) AS claimed,
           1000 * extract(epoch FROM t.rewards_done_at - o.sent_at) AS recorded
    FROM checkout.transactions t
    CROSS JOIN LATERAL (
        SELECT min(sent_at) AS sent_at FROM checkout.outbox
        WHERE destination = '{REWARD_JOBS}' AND attributes->>'jobId' = t.id::text) o
    WHERE t.created_at >= $1"""


BOOKING_TIMES = f"""
    SELECT e.event_id::text AS event_id, extract(epoch FROM e.occurred_at) AS committed,
           extract(epoch FROM o.sent_at) AS claimed, extract(epoch FROM n.created_at) AS stored
    FROM booking.events e
    JOIN booking.outbox o ON o.message_id = e.event_id AND o.destination = '{USER_NOTICES}'
    JOIN notifications.notifications n ON n.event_id = e.event_id
    WHERE e.type = 'BOOKING_CONFIRMED' AND e.occurred_at >= $1"""


UNSENT = "SELECT count(*) FROM booking.outbox WHERE sent_at IS NULL AND available_at <= now()"


class Receipts:
    """Each event's SQS SentTimestamp and the time a receive of one queue returned it, as
    the calls pass the proxy (the first receive of each)."""

    def __init__(self, queue_url: str) -> None:
        self.queue = queue_url.rsplit("/", 1)[-1]
        self.seen: dict[str, tuple[float, float]] = {}  # event id: (sent, received), epoch s

    def observe(self, action: str, request: bytes, answer: bytes) -> None:
        if action != "ReceiveMessage":
            return
        received = time.time()
        try:
            if json.loads(request).get("QueueUrl", "").rsplit("/", 1)[-1] != self.queue:
                return
            messages = json.loads(answer).get("Messages", [])
            for message in messages:
                sent = int(message["Attributes"]["SentTimestamp"]) / 1000
                self.seen.setdefault(json.loads(message["Body"])["id"], (sent, received))
        except (ValueError, KeyError, TypeError, AttributeError):
            return  # not a JSON answer: the SQS stages are left out


@dataclass(frozen=True)
class Stages:
    total: list[float]
    claimed: list[float]  # committed to the relay's claim
    sent: list[float]  # claim to SQS SentTimestamp
    received: list[float]  # SentTimestamp to the consumer's receive
    stored: list[float]  # receive to the notification's transaction


def stages(rows: list[asyncpg.Record], receipts: Receipts) -> Stages:
    if not any(row["event_id"] in receipts.seen for row in rows):
        raise RuntimeError("the proxy saw none of the run's messages received")
    stages = Stages([], [], [], [], [])
    for row in rows:
        committed, claimed, stored = (float(row[k]) for k in ("committed", "claimed", "stored"))
        stages.total.append(1000 * (stored - committed))
        stages.claimed.append(1000 * (claimed - committed))
        if (seen := receipts.seen.get(row["event_id"])) is not None:
            sent, received = seen
            stages.sent.append(1000 * (sent - claimed))
            stages.received.append(1000 * (received - sent))
            stages.stored.append(1000 * (stored - received))
    return stages


async def start(stack: ExitStack, settings: Settings, ports: dict[str, int]) -> None:
    """Start the services off the event loop (a proxy may be serving on it); every start
    has ended, in the stack or failed, when this returns."""
    outcomes = await asyncio.gather(
        *(
            asyncio.to_thread(stack.enter_context, service(name, settings, port))
            for name, port in ports.items()
        ),
        return_exceptions=True,
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


async def fetch(database_url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url)
    try:
        return list(await connection.fetch(sql, *args))
    finally:
        await connection.close()


def spread(
    name: str, runs: list[list[float]], notes: str, at: str = "", top: bool = True
) -> list[Result]:
    """`name: p50 at`, `p99` (and `max` with `top`) of each run's latencies in ms, over runs."""
    ordered = [sorted(latencies) for latencies in runs]

    def quantile(q: float) -> list[float]:
        return [values[min(len(values) - 1, int(q * len(values)))] for values in ordered]

    marks = {"p50": quantile(0.5), "p99": quantile(0.99)}
    if top:
        marks["max"] = [values[-1] for values in ordered]
    return [figure(f"{name}: {mark} {at}".rstrip(), v, "ms", notes) for mark, v in marks.items()]
