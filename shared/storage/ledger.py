"""The double-entry ledger: the one way any service moves money or tree points.

Every movement is a `Transfer` of a positive amount from one account (its debit) to another
(its credit) of the same unit, written as two entries that sum to zero. A transfer is
identified by its (kind, reference): posting the same one twice is a no-op. Its id is
reserved first (`next_transfer_ids`, or `reserve_transfer` with the balance it will move)
so the event that makes it can carry it and a replay writes it again under the same id at
the event's time. A post is one statement: transfers, entries and balances.

Customer accounts (wallet cents, tree points) keep a balance row, the sum of their entries,
never negative: a debit moves it by compare-and-swap (`balance + amount >= 0`) and a CHECK
backs it, so a debit the balance does not cover changes nothing and raises
InsufficientFunds. The shop's and the mall's accounts (shop revenue, the top-up source,
reward expense) keep no row, so checkouts never queue on one hot row lock; their balance is
the sum of their entries. Schema: shared/storage/sql/0005_ledger.sql, 0010_double_entry.sql.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import nullcontext
from datetime import datetime
from typing import NamedTuple

import asyncpg

from shared.errors import Problem
from shared.storage.ledger_model import (
    CENTS,
    CUSTOMER_TYPES,
    MALL,
    POINTS,
    REWARD_EXPENSE,
    REWARDS,
    SHOP,
    SHOP_REVENUE,
    TOP_UP_SOURCE,
    TOP_UPS,
    UNITS,
    WALLET,
    WHOLE_POINTS,
    Account,
    Entry,
    Transfer,
    points,
    wallet,
)

__all__ = [
    "CENTS",
    "CUSTOMER_TYPES",
    "MALL",
    "POINTS",
    "REWARDS",
    "REWARD_EXPENSE",
    "SHOP",
    "SHOP_REVENUE",
    "TOP_UPS",
    "TOP_UP_SOURCE",
    "UNITS",
    "WALLET",
    "WHOLE_POINTS",
    "Account",
    "Entry",
    "InsufficientFunds",
    "Reserved",
    "Transfer",
    "balance",
    "entries",
    "entries_sum",
    "next_transfer_ids",
    "points",
    "post",
    "reserve_transfer",
    "reset_kinds",
    "wallet",
]


class InsufficientFunds(Problem):
    def __init__(self, owner_id: str, amount: int) -> None:
        super().__init__(
            402,
            f"the balance of {owner_id} does not cover {amount}",
            title="Insufficient balance",
        )


class Reserved(NamedTuple):
    """A customer account's balance, and a transfer id reserved for the event that moves it."""

    balance: int
    transfer_id: int


async def next_transfer_ids(conn: asyncpg.Connection, schema: str, count: int) -> list[int]:
    """Reserve `count` transfer ids, for the event that will carry them."""
    if count <= 0:
        return []
    rows = await conn.fetch(
        f"""SELECT nextval(pg_get_serial_sequence('{schema}.ledger_transfers', 'id')) AS id
            FROM generate_series(1, $1)""",
        count,
    )
    return [int(row["id"]) for row in rows]


async def reserve_transfer(conn: asyncpg.Connection, schema: str, account: Account) -> Reserved:
    """A customer account's balance and a transfer id reserved for the event that will move
    it, in one round trip (run it under the lock that serializes the account's changes)."""
    row = await conn.fetchrow(
        f"""SELECT coalesce((SELECT balance FROM {schema}.ledger_accounts
                             WHERE account_type = $1 AND owner_id = $2), 0) AS balance,
                   nextval(pg_get_serial_sequence('{schema}.ledger_transfers', 'id')) AS id""",
        account.type,
        account.owner,
    )
    return Reserved(int(row["balance"]), int(row["id"]))


async def post(
    conn: asyncpg.Connection,
    schema: str,
    transfers: Sequence[Transfer],
    *,
    at: datetime | None = None,
    savepoint: bool = True,
) -> dict[Account, int]:
    """Post transfers (at `at`, default the transaction's time) in the caller's transaction.

    Return the new balance of each customer account they moved; a transfer whose (kind,
    reference) was posted before is skipped. A debit its account does not cover raises
    InsufficientFunds and leaves none of these transfers behind, even if the caller
    catches it and commits. Balance rows are locked in key order: no deadlock between
    concurrent posters. `savepoint=False` is for a caller that never commits after an
    error (a projector, whose event would otherwise stay unprojected): the refusal then
    needs no savepoint of its own, two round trips fewer.
    """
    if not transfers:
        return {}
    # A savepoint only where a debit can be refused: credits always apply.
    refusable = savepoint and any(t.debit.type in CUSTOMER_TYPES for t in transfers)
    async with conn.transaction() if refusable else nullcontext():
        rows = await _post(conn, schema, transfers, at)
        for row in rows:
            if row["balance"] is None or (row["opened"] and row["amount"] < 0):
                raise InsufficientFunds(row["owner_id"], -row["amount"])
        return {Account(r["account_type"], r["owner_id"]): int(r["balance"]) for r in rows}


async def _post(
    conn: asyncpg.Connection, schema: str, transfers: Sequence[Transfer], at: datetime | None
) -> list[asyncpg.Record]:
    """Write the new transfers, their two entries and the balances they move, in one
    statement; return each customer account moved: the sum it moved by, its new balance
    (None when it did not cover a debit) and whether the statement opened it."""
    # A new account opens at its credit; a debit only moves an existing row that covers it
    # (compare-and-swap). A debit proposes an opening of 0, which `opened` tells apart.
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""WITH t AS (
                INSERT INTO {schema}.ledger_transfers (id, kind, reference, debit_type,
                    debit_owner, credit_type, credit_owner, amount, details, created_at)
                SELECT coalesce(t.id, nextval(pg_get_serial_sequence(
                           '{schema}.ledger_transfers', 'id'))),
                       t.kind, t.reference, t.debit_type, t.debit_owner, t.credit_type,
                       t.credit_owner, t.amount, t.details, coalesce($10::timestamptz, now())
                FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
                            $6::text[], $7::text[], $8::bigint[], $9::jsonb[])
                     AS t(id, kind, reference, debit_type, debit_owner, credit_type,
                          credit_owner, amount, details)
                ON CONFLICT (kind, reference) DO NOTHING
                RETURNING id, debit_type, debit_owner, credit_type, credit_owner, amount),
            e AS (
                INSERT INTO {schema}.ledger_entries
                    (transfer_id, side, account_type, owner_id, amount)
                SELECT id, 'debit', debit_type, debit_owner, -amount FROM t
                UNION ALL
                SELECT id, 'credit', credit_type, credit_owner, amount FROM t
                RETURNING account_type, owner_id, amount),
            s AS (
                SELECT account_type, owner_id, sum(amount)::bigint AS amount FROM e
                WHERE account_type = ANY($11::text[])
                GROUP BY account_type, owner_id HAVING sum(amount) <> 0),
            moved AS (
                INSERT INTO {schema}.ledger_accounts AS a (account_type, owner_id, balance,
                                                           updated_at)
                SELECT account_type, owner_id, greatest(amount, 0),
                       coalesce($10::timestamptz, now())
                FROM s ORDER BY account_type, owner_id
                ON CONFLICT (account_type, owner_id) DO UPDATE
                    SET balance = a.balance + (SELECT s.amount FROM s WHERE (s.account_type,
                                    s.owner_id) = (a.account_type, a.owner_id)),
                        updated_at = greatest(a.updated_at, EXCLUDED.updated_at)
                    WHERE a.balance + (SELECT s.amount FROM s WHERE (s.account_type,
                              s.owner_id) = (a.account_type, a.owner_id)) >= 0
                RETURNING account_type, owner_id, balance, xmax = 0 AS opened)
            SELECT s.account_type, s.owner_id, s.amount, moved.balance, moved.opened
            FROM s LEFT JOIN moved USING (account_type, owner_id)""",
        [t.id for t in transfers],
        [t.kind for t in transfers],
        [t.reference for t in transfers],
        [t.debit.type for t in transfers],
        [t.debit.owner for t in transfers],
        [t.credit.type for t in transfers],
        [t.credit.owner for t in transfers],
        [t.amount for t in transfers],
        [json.dumps(t.details) for t in transfers],
        at,
        sorted(CUSTOMER_TYPES),
    )
    return rows


async def balance(conn: asyncpg.Connection, schema: str, account_type: str, owner_id: str) -> int:
    """A customer account's balance row, or the sum of any other account's entries."""
    if account_type not in CUSTOMER_TYPES:
        return await entries_sum(conn, schema, account_type, owner_id)
    value = await conn.fetchval(
        f"SELECT balance FROM {schema}.ledger_accounts WHERE account_type = $1 AND owner_id = $2",
        account_type,
        owner_id,
    )
    return int(value or 0)


async def entries(
    conn: asyncpg.Connection,
    schema: str,
    account_type: str,
    owner_id: str,
    *,
    limit: int = 50,
    before: int | None = None,
) -> list[Entry]:
    """An account's entries, newest first; `before` is the last transfer id of the
    previous page."""
    rows = await conn.fetch(
        f"""SELECT t.id, e.amount, t.kind, t.reference, t.details, t.created_at,
                   CASE e.side WHEN 'debit' THEN t.credit_type ELSE t.debit_type END AS ctype,
                   CASE e.side WHEN 'debit' THEN t.credit_owner ELSE t.debit_owner END AS cowner
            FROM {schema}.ledger_entries e
            JOIN {schema}.ledger_transfers t ON t.id = e.transfer_id
            WHERE e.account_type = $1 AND e.owner_id = $2
              AND ($3::bigint IS NULL OR e.transfer_id < $3)
            ORDER BY e.transfer_id DESC LIMIT $4""",
        account_type,
        owner_id,
        before,
        limit,
    )
    return [
        Entry(
            transfer_id=row["id"],
            amount=row["amount"],
            kind=row["kind"],
            reference=row["reference"],
            counter=Account(row["ctype"], row["cowner"]),
            details=json.loads(row["details"]),
            created_at=row["created_at"],
        )
        for row in rows
    ]


async def entries_sum(
    conn: asyncpg.Connection, schema: str, account_type: str, owner_id: str
) -> int:
    value = await conn.fetchval(
        f"SELECT coalesce(sum(amount), 0) FROM {schema}.ledger_entries "
        "WHERE account_type = $1 AND owner_id = $2",
        account_type,
        owner_id,
    )
    return int(value)


async def reset_kinds(conn: asyncpg.Connection, schema: str, kinds: Sequence[str]) -> None:
    """Remove every transfer of these kinds (before a replay posts them again); the
    balance rows left equal their remaining entries, at their latest entry's time."""
    await conn.execute(f"DELETE FROM {schema}.ledger_transfers WHERE kind = ANY($1)", kinds)
    await conn.execute(
        f"""DELETE FROM {schema}.ledger_accounts a WHERE NOT EXISTS (
                SELECT 1 FROM {schema}.ledger_entries e
                WHERE (e.account_type, e.owner_id) = (a.account_type, a.owner_id))"""
    )
    await conn.execute(
        f"""UPDATE {schema}.ledger_accounts a SET balance = s.total, updated_at = s.at
            FROM (SELECT e.account_type, e.owner_id, sum(e.amount) AS total,
                         max(t.created_at) AS at
                  FROM {schema}.ledger_entries e
                  JOIN {schema}.ledger_transfers t ON t.id = e.transfer_id
                  GROUP BY e.account_type, e.owner_id) s
            WHERE (s.account_type, s.owner_id) = (a.account_type, a.owner_id)
              AND (a.balance, a.updated_at) IS DISTINCT FROM (s.total, s.at)"""
    )
