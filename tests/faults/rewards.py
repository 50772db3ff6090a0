"""Checking checkouts' rewards one by one: recorded, and recorded once."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from shared.storage import ledger
from shared.storage.pool import Database
from tests.support.wait import eventually


@dataclass(frozen=True)
class RewardCount:
    transactions: int
    entries: int  # points ledger entries expected (one per upline member of each buyer)
    lost: int
    doubled: int
    reconciled: int  # transactions whose job the reconciler queued again


async def wait_all_rewarded(db: Database, ids: list[str], timeout: float = 120) -> None:
    async def done() -> bool:
        async with db.acquire() as conn:
            pending = await conn.fetchval(
                "SELECT count(*) FROM checkout.transactions "
                "WHERE id = ANY($1::uuid[]) AND rewards_status <> 'done'",
                ids,
            )
        return pending == 0

    await eventually(done, timeout=timeout, interval=0.5, what="every reward recorded")


async def count_rewards(
    db: Database, ids: list[str], chain: list[str], levels: int = 5
) -> RewardCount:
    """Per transaction: one points entry per upline member of its buyer up to `levels` deep
    (`chain` is root first, each member referred by the one before; the default rules credit
    five levels) and one REWARDS_DISTRIBUTED notice.
    Asserts every member's points balance equals the sum of its ledger entries."""
    depth = {member: min(index, levels) for index, member in enumerate(chain)}
    async with db.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id::text AS id, customer_id::text AS buyer FROM checkout.transactions "
            "WHERE id = ANY($1::uuid[])",
            ids,
        )
        entries = Counter(
            row["tx"]
            for row in await conn.fetch(
                "SELECT split_part(reference, ':', 1) AS tx FROM checkout.ledger_transfers "
                "WHERE credit_type = $1 AND split_part(reference, ':', 1) = ANY($2::text[])",
                ledger.POINTS,
                ids,
            )
        )
        notices = Counter(
            row["tx"]
            for row in await conn.fetch(
                "SELECT body->'data'->>'transaction_id' AS tx FROM checkout.outbox "
                "WHERE message_type = 'REWARDS_DISTRIBUTED' "
                "AND body->'data'->>'transaction_id' = ANY($1::text[])",
                ids,
            )
        )
        reconciled = await conn.fetchval(
            "SELECT count(*) FROM checkout.reward_handoffs "
            "WHERE transaction_id = ANY($1::uuid[]) AND enqueues > 1",
            ids,
        )
        for member in chain:
            balance = await ledger.balance(conn, "checkout", ledger.POINTS, member)
            assert balance == await ledger.entries_sum(conn, "checkout", ledger.POINTS, member)
    expected = {row["id"]: depth[row["buyer"]] for row in rows}
    assert len(expected) == len(ids), "every paid checkout is a transaction"
    lost = sum(1 for tx, n in expected.items() if entries[tx] < n or notices[tx] < 1)
    doubled = sum(max(0, entries[tx] - n) + max(0, notices[tx] - 1) for tx, n in expected.items())
    return RewardCount(len(expected), sum(expected.values()), lost, doubled, int(reconciled))
