"""`make audit` over a whole database: clean after checkouts, rewards, refunds and their
reversals, and it names the entry a test corrupts on purpose (its account's balance and
its transfer)."""

from __future__ import annotations

import asyncio
import os
import sys

from shared.config import Settings
from shared.storage.pool import Database
from tests.integration.checkout.test_replay import (
    distribute_rewards,
    private,
    run_checkout_workload,
)

__all__ = ["private"]  # the replay test's fixture: a database of this test's own


async def make_audit(settings: Settings) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tools.audit",
        env={**os.environ, "DATABASE_URL": settings.database_url, "LOG_LEVEL": "WARNING"},
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_audit_is_clean_after_money_moved_and_names_a_corrupted_entry(
    private: Settings,
) -> None:
    await run_checkout_workload(private)
    db = Database(private.database_url, max_size=2)
    await db.start()
    try:
        await db.wait_ready(timeout=10)
        await distribute_rewards(db)  # the rewards, and the reversals of both refunds
        assert await make_audit(private) == (0, "audit: clean\n")

        async with db.acquire() as conn:
            row = await conn.fetchrow(
                """UPDATE checkout.ledger_entries SET amount = amount + 1
                   WHERE (transfer_id, side) = (
                       SELECT min(transfer_id), 'credit'::text FROM checkout.ledger_entries
                       WHERE account_type = 'points')
                   RETURNING transfer_id, owner_id"""
            )
        status, output = await make_audit(private)
        assert status == 1, output
        assert f"balance differs from its entries: points {row['owner_id']}" in output
        assert f"transfer does not balance: transfer {row['transfer_id']} " in output
        assert output.strip().endswith("audit: 2 finding(s)")

        # Undone, then a top-up changed consistently in the ledger (transfer, both entries,
        # balance): only its event tells the ledger is wrong.
        async with db.transaction() as conn:
            await conn.execute(
                """UPDATE checkout.ledger_entries SET amount = amount - 1
                   WHERE (transfer_id, side) = ($1, 'credit')""",
                row["transfer_id"],
            )
            top_up = await conn.fetchrow(
                """UPDATE checkout.ledger_transfers SET amount = amount + 1
                   WHERE id = (SELECT min(id) FROM checkout.ledger_transfers
                               WHERE kind = 'top_up')
                   RETURNING id, credit_owner"""
            )
            await conn.execute(
                """UPDATE checkout.ledger_entries
                   SET amount = amount + CASE side WHEN 'debit' THEN -1 ELSE 1 END
                   WHERE transfer_id = $1""",
                top_up["id"],
            )
            await conn.execute(
                """UPDATE checkout.ledger_accounts SET balance = balance + 1
                   WHERE account_type = 'wallet' AND owner_id = $1""",
                top_up["credit_owner"],
            )
        status, output = await make_audit(private)
        assert status == 1, output
        assert "wallet transfer of an event missing or changed: WALLET_TOPPED_UP" in output
        assert f"transfer {top_up['id']} should move" in output
        assert output.strip().endswith("audit: 1 finding(s)")

        # Points that turn into cents: each entry on its account, yet not one unit.
        async with db.transaction() as conn:
            await conn.execute(
                """WITH t AS (
                       INSERT INTO checkout.ledger_transfers (kind, reference, debit_type,
                           debit_owner, credit_type, credit_owner, amount)
                       VALUES ('bogus', 'b1', 'reward_expense', 'mall', 'shop_revenue', 'mall', 5)
                       RETURNING id)
                   INSERT INTO checkout.ledger_entries
                       (transfer_id, side, account_type, owner_id, amount)
                   SELECT id, 'debit', 'reward_expense', 'mall', -5 FROM t
                   UNION ALL SELECT id, 'credit', 'shop_revenue', 'mall', 5 FROM t"""
            )
        status, output = await make_audit(private)
        assert "transfer between two units: transfer " in output and "(bogus b1)" in output
        assert output.strip().endswith("audit: 2 finding(s)")
    finally:
        await db.close()
