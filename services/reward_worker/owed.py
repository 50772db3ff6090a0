"""Guaranteed work, shown: the reward jobs PostgreSQL says are owed against the jobs the
broker holds, and the one action that queues again what is owed and missing.

PostgreSQL is the source of truth: a checkout whose rewards are `pending` owes a
CHECKOUT_COMPLETED job (its id is the transaction's), a refund whose reversal is `pending`
owes a REFUND_ISSUED job (its id is the refund's). The queries are the checkout
reconciler's, without its clock: the reconciler re-queues only what has been pending for a
while, through the outbox; this reads all of it now and enqueues straight to the broker.
A job still unsent in the outbox is in transit, not missing. A job id the broker already
holds (even failed) is never added twice: the queue's id de-duplication refuses it.

    report = await owed_work(db, queue)        # per job type: owed, in transit, held, missing
    counts = await requeue_missing(db, queue)  # per job type: missing, enqueued

From a shell (JSON on stdout; `make queue-owed`, `make queue-requeue-owed`):

    python -m services.reward_worker.owed [--requeue]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared.config import Settings
from shared.events.checkout import CheckoutCompleted, RefundIssued
from shared.events.envelope import Trace, make_envelope
from shared.logging import configure_logging, get_logger, new_correlation_id
from shared.messaging.destinations import REWARD_JOBS
from shared.messaging.outbox import unsent_job_ids
from shared.storage.pool import Database
from shared.workqueue import open_work_queue
from shared.workqueue.base import NewJob, WorkQueue
from shared.workqueue.inspect import present

from .typedefs import SCHEMA, SERVICE, SOURCE

log = get_logger(__name__)

DATABASE_WAIT = 10.0  # seconds the command waits for PostgreSQL
CHECKED = 10_000  # owed jobs compared with the broker per job type, oldest first
SAMPLE = 20  # missing ids shown

REWARDS_OWED = f"""
    SELECT t.id::text AS job_id, t.customer_id, t.total, c.tier
    FROM {SCHEMA}.transactions t JOIN {SCHEMA}.customers c ON c.id = t.customer_id
    WHERE t.rewards_status = 'pending' ORDER BY t.created_at LIMIT $1"""
REVERSALS_OWED = f"""
    SELECT r.id::text AS job_id, e.data
    FROM {SCHEMA}.refunds r
    JOIN {SCHEMA}.events e ON e.type = 'REFUND_ISSUED' AND e.data->>'refund_id' = r.id::text
    WHERE r.reversal_status = 'pending' ORDER BY r.created_at LIMIT $1"""
COUNTS = f"""
    SELECT (SELECT count(*) FROM {SCHEMA}.transactions WHERE rewards_status = 'pending'),
           (SELECT count(*) FROM {SCHEMA}.refunds WHERE reversal_status = 'pending')"""


@dataclass
class Owed:
    job_type: str
    owed: int  # pending in PostgreSQL
    rows: list[asyncpg.Record]  # the oldest CHECKED of them
    in_transit: set[str]
    held: dict[str, str]  # id -> state, of those the broker holds

    @property
    def missing(self) -> list[asyncpg.Record]:
        return [
            r
            for r in self.rows
            if r["job_id"] not in self.held and r["job_id"] not in self.in_transit
        ]

    def to_dict(self) -> dict[str, Any]:
        states: dict[str, int] = {}
        for state in self.held.values():
            states[state] = states.get(state, 0) + 1
        missing = self.missing
        return {
            "job_type": self.job_type,
            "owed": self.owed,
            "checked": len(self.rows),
            "in_outbox": len(self.in_transit),
            "in_broker": len(self.held),
            "in_broker_by_state": states,
            "missing": len(missing),
            "missing_ids": [r["job_id"] for r in missing[:SAMPLE]],
        }


async def _owed(db: Database, queue: WorkQueue) -> list[Owed]:
    async with db.acquire() as conn:
        rewards_owed, reversals_owed = await conn.fetchrow(COUNTS)
        kinds = [
            ("CHECKOUT_COMPLETED", rewards_owed, await conn.fetch(REWARDS_OWED, CHECKED)),
            ("REFUND_ISSUED", reversals_owed, await conn.fetch(REVERSALS_OWED, CHECKED)),
        ]
        found = []
        for job_type, owed, rows in kinds:
            ids = [row["job_id"] for row in rows]
            in_transit = await unsent_job_ids(conn, SCHEMA, REWARD_JOBS, ids)
            found.append((job_type, owed, rows, in_transit))
    return [
        Owed(job_type, int(owed), rows, transit, await present(queue, [r["job_id"] for r in rows]))
        for job_type, owed, rows, transit in found
    ]


async def owed_work(db: Database, queue: WorkQueue) -> dict[str, Any]:
    """Work owed by PostgreSQL against work present in the broker, per job type."""
    counts = await queue.status()
    return {
        "queue": queue.name,
        "broker": counts,
        "job_types": [owed.to_dict() for owed in await _owed(db, queue)],
    }


async def requeue_missing(db: Database, queue: WorkQueue) -> dict[str, Any]:
    """Enqueue every owed job that is neither in the outbox nor in the broker."""
    result = []
    for owed in await _owed(db, queue):
        jobs = [_job(owed.job_type, row) for row in owed.missing]
        added = sum(await queue.enqueue_many(jobs)) if jobs else 0
        if added:
            log.warning("owed jobs queued again", job_type=owed.job_type, count=added)
        result.append({"job_type": owed.job_type, "missing": len(jobs), "enqueued": added})
    return {"queue": queue.name, "job_types": result}


def _job(job_type: str, row: asyncpg.Record) -> NewJob:
    trace = Trace(correlation_id=new_correlation_id())
    if job_type == "CHECKOUT_COMPLETED":
        transaction_id = uuid.UUID(row["job_id"])
        payload = CheckoutCompleted(
            transaction_id=transaction_id,
            customer_id=str(row["customer_id"]),
            total=row["total"],
            tier=row["tier"],
        )
        envelope = make_envelope(payload, source=SOURCE, subject=row["job_id"], trace=trace)
        return NewJob(job_type, envelope.model_dump(mode="json"), row["job_id"], row["tier"])
    refund = RefundIssued.model_validate_json(row["data"])
    envelope = make_envelope(refund, source=SOURCE, subject=str(refund.customer_id), trace=trace)
    return NewJob(job_type, envelope.model_dump(mode="json"), row["job_id"], 0)


async def run(argv: list[str], settings: Settings) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.reward_worker.owed")
    parser.add_argument("--requeue", action="store_true", help="enqueue what is owed and missing")
    args = parser.parse_args(argv)
    db = Database(settings.database_url, max_size=1)
    await db.start()
    try:
        try:
            await db.wait_ready(timeout=DATABASE_WAIT)
        except TimeoutError:
            result: dict[str, Any] = {
                "error": f"PostgreSQL did not answer in {DATABASE_WAIT:g} s (DATABASE_URL)"
            }
            code = 1
        else:
            async with open_work_queue(settings) as queue:
                action = requeue_missing if args.requeue else owed_work
                result, code = await action(db, queue), 0
    finally:
        await db.close()
    json.dump(result, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return code


def main() -> None:
    settings = Settings()
    # Logs go to stderr, so stdout holds only the JSON result a script reads.
    configure_logging(f"{SERVICE}-owed", settings.log_level, json=settings.log_json)
    sys.exit(asyncio.run(run(sys.argv[1:], settings)))


if __name__ == "__main__":
    main()
