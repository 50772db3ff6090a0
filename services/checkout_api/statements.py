"""Statements of ledger accounts (a wallet, tree points): newest entries first, a page at a time.

Pages follow the house's opaque cursor (shared/http/pagination.py), whose position is a
time and a UUID: here the entry's time and its transfer id as the UUID's integer (transfer
ids are what orders an account's entries). `before=<transfer id>` still works for one
release, answered with `next_before`; `cursor` wins when both are given.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.checkout_api import models
from services.checkout_api.models import EntriesQuery, LedgerEntry
from services.checkout_api.typedefs import SCHEMA
from shared.errors import Problem
from shared.http.pagination import decode_cursor, page_items
from shared.storage import ledger

_MAX_TRANSFER_ID = 2**63 - 1


@dataclass(frozen=True)
class Statement:
    balance: int
    entries: list[LedgerEntry]
    next_cursor: str | None
    next_before: int | None


def _before(query: EntriesQuery) -> int | None:
    position = decode_cursor(query.cursor)
    if position is None:
        return query.before
    transfer_id = position[1].int
    if not 0 < transfer_id <= _MAX_TRANSFER_ID:
        raise Problem(400, "the cursor is not valid")
    return transfer_id


def _position(entry: LedgerEntry) -> tuple[datetime, uuid.UUID]:
    return entry.created_at, uuid.UUID(int=entry.id)


async def statement(
    conn: asyncpg.Connection, account_type: str, owner_id: str, query: EntriesQuery
) -> Statement:
    """The account's balance and one page of its entries (run in one snapshot)."""
    balance = await ledger.balance(conn, SCHEMA, account_type, owner_id)
    rows = await ledger.entries(
        conn, SCHEMA, account_type, owner_id, limit=query.limit + 1, before=_before(query)
    )
    entries, cursor = page_items(rows, query.limit, models.entry, _position)
    next_before = entries[-1].id if cursor is not None else None
    return Statement(balance, entries, cursor, next_before)
