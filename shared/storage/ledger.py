"""Ledger postings: the one way any service changes a balance (wallet cents, tree points).

A posting inserts an entry and moves the account balance in the caller's transaction. The
balance update is conditional (`balance + amount >= 0`), so a debit that the balance does not
cover changes nothing and raises InsufficientFunds; no read-then-write, no race. An entry is
unique per (account, kind, reference): posting the same thing twice is a no-op.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from shared.errors import Problem

WALLET = "wallet"
POINTS = "points"


class InsufficientFunds(Problem):
    def __init__(self, owner_id: str, amount: int) -> None:
        super().__init__(
            402,
            f"the balance of {owner_id} does not cover {amount}",
            title="Insufficient balance",
        )


@dataclass(frozen=True)
class Entry:
    id: int
    account_type: str
    owner_id: str
    amount: int
    kind: str
    reference: str
    details: dict[str, Any]
    created_at: datetime


async def post(
    conn: asyncpg.Connection,
    schema: str,
    account_type: str,
    owner_id: str,
    amount: int,
    *,
    kind: str,
    reference: str,
    details: dict[str, Any] | None = None,
) -> int | None:
    """Post `amount` (negative for a debit). Return the new balance, or None if the same
    (account, kind, reference) was posted before. Must run inside a transaction."""
    if amount == 0:
        raise ValueError("a posting must move the balance")
    # A savepoint: a refused debit leaves no entry behind even if the caller catches the
    # error and commits the rest of its transaction.
    async with conn.transaction():
        entry_id = await conn.fetchval(
            f"""INSERT INTO {schema}.ledger_entries
                    (account_type, owner_id, amount, kind, reference, details)
                VALUES ($1, $2, $3, $4, $5, $6::jsonb)
                ON CONFLICT (account_type, owner_id, kind, reference) DO NOTHING
                RETURNING id""",
            account_type,
            owner_id,
            amount,
            kind,
            reference,
            json.dumps(details or {}),
        )
        if entry_id is None:
            return None
        if amount > 0:
            balance: int | None = await conn.fetchval(
                f"""INSERT INTO {schema}.ledger_accounts AS a (account_type, owner_id, balance)
                    VALUES ($1, $2, $3)
                    ON CONFLICT (account_type, owner_id) DO UPDATE
                        SET balance = a.balance + EXCLUDED.balance, updated_at = now()
                    RETURNING balance""",
                account_type,
                owner_id,
                amount,
            )
        else:
            # Compare-and-swap: a concurrent debit re-checks the condition on the new balance.
            balance = await conn.fetchval(
                f"""UPDATE {schema}.ledger_accounts SET balance = balance + $3, updated_at = now()
                    WHERE account_type = $1 AND owner_id = $2 AND balance + $3 >= 0
                    RETURNING balance""",
                account_type,
                owner_id,
                amount,
            )
        if balance is None:
            raise InsufficientFunds(owner_id, -amount)
    return balance


@dataclass(frozen=True)
class Posting:
    account_type: str
    owner_id: str
    amount: int
    kind: str
    reference: str
    details: dict[str, Any] = field(default_factory=dict)


async def post_many(
    conn: asyncpg.Connection, schema: str, postings: list[Posting]
) -> dict[tuple[str, str], int]:
    """Post several entries in one statement (one round trip) with `post`'s rules.

    Return {(account_type, owner_id): new balance} for the accounts that moved; a posting
    made before (same account, kind, reference) is skipped. Accounts are locked in key
    order, so concurrent callers cannot deadlock on each other. Must run in a transaction.
    """
    if any(p.amount == 0 for p in postings):
        raise ValueError("a posting must move the balance")
    if not postings:
        return {}
    # A savepoint, as in `post`: a refused batch leaves none of its postings behind even if
    # the caller catches InsufficientFunds and commits the rest of its transaction.
    async with conn.transaction():
        rows = await _post_rows(conn, schema, postings)
        for row in rows:
            if row["balance"] is None:
                raise InsufficientFunds(row["owner_id"], -int(row["amount"]))
    return {(row["account_type"], row["owner_id"]): int(row["balance"]) for row in rows}


async def _post_rows(
    conn: asyncpg.Connection, schema: str, postings: list[Posting]
) -> list[asyncpg.Record]:
    """Insert the entries and move the balances; a refused account's balance comes back NULL."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""WITH new AS (
                INSERT INTO {schema}.ledger_entries
                    (account_type, owner_id, amount, kind, reference, details)
                SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[],
                                     $5::text[], $6::jsonb[])
                ON CONFLICT (account_type, owner_id, kind, reference) DO NOTHING
                RETURNING account_type, owner_id, amount),
            sums AS (
                SELECT account_type, owner_id, sum(amount) AS amount FROM new
                GROUP BY account_type, owner_id),
            -- A new account opens at its credit; a debit can only move an account that
            -- exists and covers it (the CHECK refuses a negative opening row, so a debit
            -- proposes 0 and the RETURNING tells an opened account from a moved one).
            moved AS (
                INSERT INTO {schema}.ledger_accounts AS a (account_type, owner_id, balance)
                SELECT account_type, owner_id, greatest(amount, 0) FROM sums
                ORDER BY account_type, owner_id
                ON CONFLICT (account_type, owner_id) DO UPDATE
                    SET balance = a.balance + (
                            SELECT s.amount FROM sums s
                            WHERE s.account_type = a.account_type AND s.owner_id = a.owner_id),
                        updated_at = now()
                    WHERE a.balance + (
                            SELECT s.amount FROM sums s
                            WHERE s.account_type = a.account_type AND s.owner_id = a.owner_id
                        ) >= 0
                RETURNING account_type, owner_id, balance, xmax = 0 AS opened)
            SELECT s.account_type, s.owner_id, s.amount,
                   CASE WHEN m.opened AND s.amount < 0 THEN NULL ELSE m.balance END AS balance
            FROM sums s LEFT JOIN moved m USING (account_type, owner_id)""",
        [p.account_type for p in postings],
        [p.owner_id for p in postings],
        [p.amount for p in postings],
        [p.kind for p in postings],
        [p.reference for p in postings],
        [json.dumps(p.details) for p in postings],
    )
    return rows


async def balance(conn: asyncpg.Connection, schema: str, account_type: str, owner_id: str) -> int:
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
    before_id: int | None = None,
) -> list[Entry]:
    """Newest first; page with `before_id` = the last id of the previous page."""
    rows = await conn.fetch(
        f"""SELECT id, account_type, owner_id, amount, kind, reference, details, created_at
            FROM {schema}.ledger_entries
            WHERE account_type = $1 AND owner_id = $2 AND ($3::bigint IS NULL OR id < $3)
            ORDER BY id DESC LIMIT $4""",
        account_type,
        owner_id,
        before_id,
        limit,
    )
    return [Entry(**{**dict(row), "details": json.loads(row["details"])}) for row in rows]


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
