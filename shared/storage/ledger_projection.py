"""Ledger tables as a projection: entries and balances folded from events, row for row.

`ledger.post` decides and writes in one go, which a replay cannot repeat: it takes the next
entry id and the clock. Here the deciding side takes the entry ids first (`next_entry_ids`)
and puts them in its event; the projector then writes each entry under its id at the
event's time (`apply_entries`), so the live rows and the replayed rows are the same. A
balance is the sum of its entries (credits commute) and its `updated_at` is the latest
entry's time, whatever order concurrent writers commit in.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from shared.storage.ledger import InsufficientFunds


@dataclass(frozen=True)
class ProjectedEntry:
    """One ledger entry an event made; `id` None lets the table number it (older events)."""

    id: int | None
    account_type: str
    owner_id: str
    amount: int
    kind: str
    reference: str
    details: dict[str, Any] = field(default_factory=dict)


async def next_entry_ids(conn: asyncpg.Connection, schema: str, count: int) -> list[int]:
    """Reserve `count` entry ids, for the event that will carry them."""
    if count <= 0:
        return []
    rows = await conn.fetch(
        f"""SELECT nextval(pg_get_serial_sequence('{schema}.ledger_entries', 'id')) AS id
            FROM generate_series(1, $1)""",
        count,
    )
    return [int(row["id"]) for row in rows]


async def apply_entries(
    conn: asyncpg.Connection, schema: str, entries: Sequence[ProjectedEntry], at: datetime
) -> None:
    """Write the entries at time `at` and move their accounts' balances.

    A debit the balance does not cover raises InsufficientFunds and leaves nothing behind
    (a savepoint). Accounts are moved in key order, so concurrent projectors cannot deadlock.
    """
    if any(e.amount == 0 for e in entries):
        raise ValueError("a posting must move the balance")
    if not entries:
        return
    sums: dict[tuple[str, str], int] = {}
    for e in entries:
        sums[(e.account_type, e.owner_id)] = sums.get((e.account_type, e.owner_id), 0) + e.amount
    # A savepoint only where a debit can be refused: credits always apply.
    debits = any(amount < 0 for amount in sums.values())
    async with conn.transaction() if debits else _no_savepoint():
        await conn.execute(
            f"""INSERT INTO {schema}.ledger_entries
                    (id, account_type, owner_id, amount, kind, reference, details, created_at)
                SELECT coalesce(e.id, nextval(pg_get_serial_sequence(
                           '{schema}.ledger_entries', 'id'))),
                       e.account_type, e.owner_id, e.amount, e.kind, e.reference, e.details, $8
                FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[],
                            $6::text[], $7::jsonb[])
                     AS e(id, account_type, owner_id, amount, kind, reference, details)""",
            [e.id for e in entries],
            [e.account_type for e in entries],
            [e.owner_id for e in entries],
            [e.amount for e in entries],
            [e.kind for e in entries],
            [e.reference for e in entries],
            [json.dumps(e.details) for e in entries],
            at,
        )
        credits = sorted((key, amount) for key, amount in sums.items() if amount > 0)
        if credits:
            await conn.execute(
                f"""INSERT INTO {schema}.ledger_accounts AS a
                        (account_type, owner_id, balance, updated_at)
                    SELECT c.account_type, c.owner_id, c.amount, $4
                    FROM unnest($1::text[], $2::text[], $3::bigint[])
                         AS c(account_type, owner_id, amount)
                    ON CONFLICT (account_type, owner_id) DO UPDATE
                        SET balance = a.balance + EXCLUDED.balance,
                            updated_at = greatest(a.updated_at, EXCLUDED.updated_at)""",
                [account for (account, _), _ in credits],
                [owner for (_, owner), _ in credits],
                [amount for _, amount in credits],
                at,
            )
        for (account, owner), amount in sorted(sums.items()):
            if amount < 0:
                await _debit(conn, schema, account, owner, amount, at)


@asynccontextmanager
async def _no_savepoint() -> AsyncIterator[None]:
    yield


async def _debit(
    conn: asyncpg.Connection, schema: str, account: str, owner: str, amount: int, at: datetime
) -> None:
    # Compare-and-swap: the balance must cover the debit at the moment it moves.
    moved = await conn.fetchval(
        f"""UPDATE {schema}.ledger_accounts
            SET balance = balance + $3, updated_at = greatest(updated_at, $4)
            WHERE account_type = $1 AND owner_id = $2 AND balance + $3 >= 0
            RETURNING balance""",
        account,
        owner,
        amount,
        at,
    )
    if moved is None:
        raise InsufficientFunds(owner, -amount)


async def reset_account_type(conn: asyncpg.Connection, schema: str, account_type: str) -> None:
    """Remove every entry and account of one account type (before a replay)."""
    await conn.execute(f"DELETE FROM {schema}.ledger_entries WHERE account_type = $1", account_type)
    await conn.execute(
        f"DELETE FROM {schema}.ledger_accounts WHERE account_type = $1", account_type
    )
