"""The double-entry migration over a ledger the single-entry code filled: each old entry
becomes a transfer under its own id against the account its kind moves money with, and
every balance still equals its entries."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.config import Settings
from shared.storage import ledger
from shared.storage.ledger import Account
from shared.storage.migrations import _apply, plan

NEW = "shared/0010_double_entry"


@pytest.fixture
async def old_schema(settings: Settings) -> AsyncIterator[tuple[asyncpg.Connection, str]]:
    """A schema migrated up to the version before double entry."""
    name = f"ldg_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(settings.database_url)
    try:
        await _apply(conn, name, [m for m in plan(name, None) if m.version < NEW])
        yield conn, name
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        await conn.close()


async def old_post(
    conn: asyncpg.Connection,
    schema: str,
    account: str,
    owner: str,
    amount: int,
    kind: str,
    reference: str,
) -> int:
    """What the single-entry `ledger.post` wrote: one entry, and the balance moved."""
    entry_id: int = await conn.fetchval(
        f"""INSERT INTO {schema}.ledger_entries
                (account_type, owner_id, amount, kind, reference, details)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING id""",
        account,
        owner,
        amount,
        kind,
        reference,
        json.dumps({"ref": reference}),
    )
    if amount > 0:
        await conn.execute(
            f"""INSERT INTO {schema}.ledger_accounts AS a (account_type, owner_id, balance)
                VALUES ($1, $2, $3) ON CONFLICT (account_type, owner_id) DO UPDATE
                SET balance = a.balance + EXCLUDED.balance""",
            account,
            owner,
            amount,
        )
    else:
        await conn.execute(
            f"""UPDATE {schema}.ledger_accounts SET balance = balance + $3
                WHERE account_type = $1 AND owner_id = $2 AND balance + $3 >= 0""",
            account,
            owner,
            amount,
        )
    return entry_id


async def test_old_entries_become_balanced_transfers_and_balances_hold(
    old_schema: tuple[asyncpg.Connection, str],
) -> None:
    conn, schema = old_schema
    ada, bob = str(uuid.uuid4()), str(uuid.uuid4())
    ids = {
        "top_up": await old_post(conn, schema, "wallet", ada, 100, "top_up", "t1"),
        "checkout_debit": await old_post(conn, schema, "wallet", ada, -30, "checkout_debit", "x1"),
        "refund": await old_post(conn, schema, "wallet", ada, 10, "refund", "r1"),
        "reward_credit": await old_post(conn, schema, "points", bob, 7, "reward_credit", "x1:1"),
        "reward_reversal": await old_post(
            conn, schema, "points", bob, -2, "reward_reversal", "r1:1"
        ),
        "goodwill": await old_post(conn, schema, "wallet", bob, 3, "goodwill", "g1"),
    }
    reserved = await conn.fetchval(
        f"SELECT nextval(pg_get_serial_sequence('{schema}.ledger_entries', 'id'))"
    )

    await _apply(conn, schema, plan(schema, None))

    assert await ledger.balance(conn, schema, "wallet", ada) == 80
    assert await ledger.balance(conn, schema, "points", bob) == 5
    assert await ledger.balance(conn, schema, "wallet", bob) == 3
    assert await ledger.balance(conn, schema, ledger.SHOP_REVENUE, ledger.MALL) == 20
    assert await ledger.balance(conn, schema, ledger.TOP_UP_SOURCE, ledger.MALL) == -100
    assert await ledger.balance(conn, schema, ledger.REWARD_EXPENSE, ledger.MALL) == -5
    for account, owner in (("wallet", ada), ("points", bob), ("wallet", bob)):
        assert await ledger.balance(conn, schema, account, owner) == await ledger.entries_sum(
            conn, schema, account, owner
        )
    legs = await conn.fetch(
        f"""SELECT transfer_id, sum(amount) AS total, count(*) AS n
            FROM {schema}.ledger_entries GROUP BY transfer_id ORDER BY transfer_id"""
    )
    assert [(r["transfer_id"], r["total"], r["n"]) for r in legs] == [
        (i, 0, 2) for i in sorted(ids.values())
    ]
    counters = {
        e.kind: (e.transfer_id, e.amount, e.counter, e.reference, e.details)
        for e in await ledger.entries(conn, schema, "wallet", ada)
        + await ledger.entries(conn, schema, "points", bob)
    }
    assert counters["top_up"] == (ids["top_up"], 100, ledger.TOP_UPS, "t1", {"ref": "t1"})
    assert counters["checkout_debit"][1:3] == (-30, ledger.SHOP)
    assert counters["refund"][1:3] == (10, ledger.SHOP)
    assert counters["reward_credit"][1:3] == (7, ledger.REWARDS)
    assert counters["reward_reversal"][1:3] == (-2, ledger.REWARDS)
    (goodwill,) = await ledger.entries(conn, schema, "wallet", bob)
    assert goodwill.counter == Account("opening_balance", "wallet")

    # New transfers take ids after every one the old code handed out, and post as usual.
    (next_id,) = await ledger.next_transfer_ids(conn, schema, 1)
    assert next_id > reserved
    async with conn.transaction():
        moved = await ledger.post(
            conn,
            schema,
            [ledger.Transfer(None, "checkout_debit", "x2", ledger.wallet(ada), ledger.SHOP, 80)],
        )
    assert moved == {ledger.wallet(ada): 0}
