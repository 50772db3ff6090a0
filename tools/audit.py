"""Check the money invariants over the whole database and print what is off (`make audit`).

python -m tools.audit

- every customer balance (wallet cents, tree points) equals the sum of its entries;
- every transfer balances: two entries, its debit and its credit, on its accounts, summing
  to zero, between two accounts of one unit (cents or points); the shop's revenue is never
  below zero;
- every transfer a wallet event (top-up, checkout, refund) or a POINTS_CREDITED or
  POINTS_REVERSED event names is in the ledger, between the accounts and for the amount
  the event says;
- every checkout whose rewards are done has its REWARDS_DISTRIBUTED;
- every refund whose reversal is done has its REWARDS_REVERSED, no refund waits for its
  reversal longer than `--pending-after` seconds, and what a transaction says it refunded
  is the sum of its refunds.

Exit status 0 when all hold, 1 (after one line per finding) when one does not.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import asyncpg

from shared.config import Settings
from shared.logging import configure_logging
from shared.storage.pool import Database

SCHEMA = "checkout"

# Wallet events and the side of their transfer the customer's wallet is on.
_WALLET_EVENTS = """(VALUES ('WALLET_TOPPED_UP', 'top_up', 'credit'),
                            ('WALLET_DEBITED', 'checkout_debit', 'debit'),
                            ('REFUND_ISSUED', 'refund', 'credit')) AS w(type, kind, side)"""


def _unit(account_type: str, owner: str) -> str:
    """SQL: the unit of an account (the migration's opening balances are owned by one)."""
    return f"""(CASE WHEN {account_type} IN ('points', 'reward_expense')
                      OR ({account_type} = 'opening_balance' AND {owner} = 'points')
                 THEN 'points' ELSE 'cents' END)"""


CHECKS: dict[str, str] = {
    "balance differs from its entries": f"""
        SELECT coalesce(a.account_type, e.account_type) || ' ' || coalesce(a.owner_id, e.owner_id)
               || ': balance ' || coalesce(a.balance, 0) || ', entries sum to '
               || coalesce(e.total, 0)
        FROM {SCHEMA}.ledger_accounts a
        FULL JOIN (SELECT account_type, owner_id, sum(amount) AS total
                   FROM {SCHEMA}.ledger_entries WHERE account_type IN ('wallet', 'points')
                   GROUP BY account_type, owner_id) e
          ON e.account_type = a.account_type AND e.owner_id = a.owner_id
        WHERE coalesce(a.balance, 0) <> coalesce(e.total, 0)""",
    # Its two entries are one per side (the primary key), so they sum to zero exactly when
    # each is on its side's account for the transfer's amount.
    "transfer does not balance": f"""
        SELECT 'transfer ' || t.id || ' (' || t.kind || ' ' || t.reference || ') moves '
               || t.amount || ' from ' || t.debit_type || ' ' || t.debit_owner || ' to '
               || t.credit_type || ' ' || t.credit_owner || '; its entries: debit '
               || coalesce(d.account_type || ' ' || d.owner_id || ' ' || d.amount, 'none')
               || ', credit '
               || coalesce(c.account_type || ' ' || c.owner_id || ' ' || c.amount, 'none')
        FROM {SCHEMA}.ledger_transfers t
        LEFT JOIN {SCHEMA}.ledger_entries d ON d.transfer_id = t.id AND d.side = 'debit'
        LEFT JOIN {SCHEMA}.ledger_entries c ON c.transfer_id = t.id AND c.side = 'credit'
        WHERE (d.account_type, d.owner_id, d.amount)
                  IS DISTINCT FROM (t.debit_type, t.debit_owner, -t.amount)
           OR (c.account_type, c.owner_id, c.amount)
                  IS DISTINCT FROM (t.credit_type, t.credit_owner, t.amount)""",
    "transfer between two units": f"""
        SELECT 'transfer ' || id || ' (' || kind || ' ' || reference || ') moves ' || amount
               || ' from ' || debit_type || ' ' || debit_owner || ' to ' || credit_type || ' '
               || credit_owner
        FROM {SCHEMA}.ledger_transfers
        WHERE {_unit("debit_type", "debit_owner")} <> {_unit("credit_type", "credit_owner")}""",
    "shop revenue below zero": f"""
        SELECT 'shop revenue ' || owner_id || ': ' || sum(amount)
        FROM {SCHEMA}.ledger_entries WHERE account_type = 'shop_revenue'
        GROUP BY owner_id HAVING sum(amount) < 0""",
    "wallet transfer of an event missing or changed": f"""
        SELECT ev.type || ' ' || ev.stream_id || ': transfer ' || (ev.data->>'entry_id')
               || ' should move ' || (ev.data->>'amount') || ' (' || w.side || ' of wallet '
               || (ev.data->>'customer_id') || '), ledger has '
               || coalesce(t.amount || ' (' || t.kind || ', debit ' || t.debit_type || ' '
                           || t.debit_owner || ', credit ' || t.credit_type || ' '
                           || t.credit_owner || ')', 'none')
        FROM {SCHEMA}.events ev
        JOIN {_WALLET_EVENTS} ON w.type = ev.type
        LEFT JOIN {SCHEMA}.ledger_transfers t ON t.id = (ev.data->>'entry_id')::bigint
        WHERE ev.data->>'entry_id' IS NOT NULL
          AND (t.id IS NULL OR t.kind <> w.kind OR t.amount <> (ev.data->>'amount')::bigint
               OR (CASE w.side WHEN 'debit' THEN (t.debit_type, t.debit_owner)
                               ELSE (t.credit_type, t.credit_owner) END)
                  <> ('wallet'::text, ev.data->>'customer_id'))""",
    "points transfer of an event missing or changed": f"""
        SELECT ev.type || ' ' || ev.stream_id || ': transfer ' || (x->>'entry_id')
               || ' should move ' || (x->>'points') || ' points '
               || (CASE ev.type WHEN 'POINTS_CREDITED' THEN 'to ' ELSE 'from ' END)
               || (x->>'customer_id') || ', ledger has '
               || coalesce(t.amount || ' (' || t.kind || ', debit ' || t.debit_owner
                           || ', credit ' || t.credit_owner || ')', 'none')
        FROM {SCHEMA}.events ev
        CROSS JOIN LATERAL jsonb_array_elements(ev.data->'entries') x
        LEFT JOIN {SCHEMA}.ledger_transfers t ON t.id = (x->>'entry_id')::bigint
        WHERE ev.type IN ('POINTS_CREDITED', 'POINTS_REVERSED')
          AND (t.id IS NULL OR t.amount <> (x->>'points')::bigint
               OR (CASE ev.type
                   WHEN 'POINTS_CREDITED' THEN (t.kind, t.credit_type, t.credit_owner)
                   ELSE (t.kind, t.debit_type, t.debit_owner) END)
                  <> (CASE ev.type WHEN 'POINTS_CREDITED' THEN 'reward_credit'
                      ELSE 'reward_reversal' END, 'points'::text, x->>'customer_id'))""",
    "checkout done without its credits": f"""
        SELECT 'transaction ' || t.id FROM {SCHEMA}.transactions t
        WHERE t.rewards_status = 'done' AND NOT EXISTS (
            SELECT 1 FROM {SCHEMA}.events e
            WHERE e.stream_id = 'transaction-' || t.id AND e.type = 'REWARDS_DISTRIBUTED')""",
    "refund done without its reversal": f"""
        SELECT 'refund ' || r.id FROM {SCHEMA}.refunds r
        WHERE r.reversal_status = 'done' AND NOT EXISTS (
            SELECT 1 FROM {SCHEMA}.events e
            WHERE e.type = 'REWARDS_REVERSED' AND e.data->>'refund_id' = r.id::text)""",
    "refund still waiting for its reversal": f"""
        SELECT 'refund ' || r.id || ' of transaction ' || r.transaction_id
        FROM {SCHEMA}.refunds r
        WHERE r.reversal_status = 'pending'
          AND r.created_at < now() - make_interval(secs => $1)""",
    "refunded total differs from its refunds": f"""
        SELECT 'transaction ' || t.id || ': refunded ' || t.refunded || ', refunds sum to '
               || coalesce(sum(r.amount), 0)
        FROM {SCHEMA}.transactions t LEFT JOIN {SCHEMA}.refunds r ON r.transaction_id = t.id
        GROUP BY t.id, t.refunded HAVING t.refunded <> coalesce(sum(r.amount), 0)""",
}


async def audit(conn: asyncpg.Connection, pending_after: float = 3600) -> list[str]:
    """Every finding, as `<check>: <what>`, in one consistent snapshot."""
    findings: list[str] = []
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for check, sql in CHECKS.items():
            args = (pending_after,) if "$1" in sql else ()
            findings += [f"{check}: {row[0]}" for row in await conn.fetch(sql, *args)]
    return findings


async def run(settings: Settings, pending_after: float) -> list[str]:
    db = Database(settings.database_url, max_size=1)
    await db.start()
    try:
        await db.wait_ready(timeout=30)
        async with db.acquire() as conn:
            return await audit(conn, pending_after)
    finally:
        await db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.audit", description=__doc__)
    parser.add_argument("--pending-after", type=float, default=3600)
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging("tools.audit", settings.log_level, json=settings.log_json)
    findings = asyncio.run(run(settings, args.pending_after))
    for finding in findings:
        print(finding)
    print(f"audit: {len(findings)} finding(s)" if findings else "audit: clean")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
