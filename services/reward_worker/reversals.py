"""The reversal job: take back, in proportion to a refund, the tree points a checkout paid.

A refund of `amount` after `before` cents were refunded already takes back from each
credit of `points` the share `floor(points * (before + amount) / total) - floor(points *
before / total)`: the shares of every refund of a transaction add up, to the point, to the
credit itself once the whole total is refunded. The refund's row is the claim (a second run
finds the reversal done and does nothing); its reversal is two events on the transaction's
stream: POINTS_REVERSED (the entries, internal) and REWARDS_REVERSED (the notice). Levels
never go down (docs/reward-worker.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from prometheus_client import Counter

from services.reward_worker.projections import PROJECTORS
from services.reward_worker.recording import notify
from services.reward_worker.typedefs import SCHEMA, SOURCE
from shared.events.checkout import (
    PointsEntry,
    PointsReversed,
    RefundIssued,
    RewardCredit,
    RewardsReversed,
)
from shared.events.envelope import Envelope, Trace, make_envelope
from shared.logging import bound_context
from shared.storage.ledger_projection import next_entry_ids
from shared.storage.pool import Database
from shared.storage.projections import record_next
from shared.workqueue import Job

REVERSAL_JOB = "REFUND_ISSUED"

POINTS_REVERSED = Counter("rewards_points_reversed_total", "Tree points taken back by refunds")


class RewardsNotPaidYet(Exception):
    """The refunded checkout's rewards are still pending: the job is retried later."""


@dataclass(frozen=True)
class ClaimedRefund:
    refund_id: uuid.UUID
    transaction_id: uuid.UUID
    buyer: str
    total: int
    before: int
    amount: int
    rewards_done: bool


def share(points: int, total: int, before: int, amount: int) -> int:
    """The points one refund takes back of a credit (see the module docstring)."""
    return points * (before + amount) // total - points * before // total


async def claim_refund(conn: asyncpg.Connection, refund_id: uuid.UUID) -> ClaimedRefund | None:
    """Lock a refund whose reversal is pending, with its transaction's total and reward
    status (None when done already or unknown). Amounts come from the rows, never the job."""
    row = await conn.fetchrow(
        f"""SELECT r.transaction_id, r.customer_id, r.amount, r.refunded_before, t.total,
                   t.rewards_status
            FROM {SCHEMA}.refunds r JOIN {SCHEMA}.transactions t ON t.id = r.transaction_id
            WHERE r.id = $1 AND r.reversal_status = 'pending'
            FOR NO KEY UPDATE OF r""",
        refund_id,
    )
    if row is None:
        return None
    return ClaimedRefund(
        refund_id,
        row["transaction_id"],
        str(row["customer_id"]),
        int(row["total"]),
        int(row["refunded_before"]),
        int(row["amount"]),
        row["rewards_status"] == "done",
    )


async def checkout_credits(
    conn: asyncpg.Connection, transaction_id: uuid.UUID
) -> list[asyncpg.Record]:
    """The points entries a checkout's rewards credited, nearest member first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT owner_id, amount, (details->>'depth')::int AS depth,
                   (details->>'level')::int AS level, (details->>'rate')::int AS rate
            FROM {SCHEMA}.ledger_entries
            WHERE account_type = 'points' AND kind = 'reward_credit'
              AND details->>'transaction_id' = $1
            ORDER BY depth""",
        str(transaction_id),
    )
    return rows


async def reverse(conn: asyncpg.Connection, envelope: Envelope) -> RewardsReversed | None:
    """Take back one refund's share of its checkout's credits, inside the caller's
    transaction; None when the refund's reversal was done already."""
    job = RefundIssued.model_validate(envelope.data)
    refund = await claim_refund(conn, job.refund_id)
    if refund is None:
        return None
    if not refund.rewards_done:
        raise RewardsNotPaidYet(f"rewards of {refund.transaction_id} are still pending")
    credits = await checkout_credits(conn, refund.transaction_id)
    backs = [
        (row, share(row["amount"], refund.total, refund.before, refund.amount)) for row in credits
    ]
    backs = [(row, points) for row, points in backs if points > 0]
    ids = await next_entry_ids(conn, SCHEMA, len(backs))
    entries = [
        PointsEntry(
            entry_id=entry_id,
            customer_id=row["owner_id"],
            depth=row["depth"],
            points=points,
            level=row["level"],
            rate=row["rate"],
        )
        for entry_id, (row, points) in zip(ids, backs, strict=True)
    ]
    reversed_points = PointsReversed(
        refund_id=refund.refund_id,
        transaction_id=refund.transaction_id,
        buyer_id=refund.buyer,
        entries=entries,
    )
    notice = RewardsReversed(
        refund_id=refund.refund_id,
        transaction_id=refund.transaction_id,
        buyer_id=refund.buyer,
        reversals=[
            RewardCredit(customer_id=e.customer_id, depth=e.depth, points=e.points) for e in entries
        ],
    )
    trace = Trace.following(envelope)
    events = [
        make_envelope(reversed_points, source=SOURCE, subject=refund.buyer, trace=trace),
        make_envelope(notice, source=SOURCE, subject=refund.buyer, trace=trace),
    ]
    stream = f"transaction-{refund.transaction_id}"
    await record_next(conn, SCHEMA, stream, events, PROJECTORS, actor=SOURCE)
    await notify(conn, events[1])
    POINTS_REVERSED.inc(sum(e.points for e in entries))
    return notice


def reversal_handler(db: Database) -> Callable[[Job], Awaitable[None]]:
    """The work queue handler of REFUND_ISSUED jobs: one database transaction each."""

    async def handle(job: Job) -> None:
        envelope = Envelope.model_validate(job.payload)
        with bound_context(correlation_id=envelope.correlationid, traceparent=envelope.traceparent):
            async with db.transaction() as conn:
                await reverse(conn, envelope)

    return handle
