"""Ledger postings: balances never go negative, a posting happens once, entries add up."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from shared.storage import ledger
from shared.storage.ledger import WALLET, InsufficientFunds
from shared.storage.pool import Database


async def _state(db: Database, schema: str, owner: str) -> tuple[int, int, int]:
    async with db.acquire() as conn:
        balance = await ledger.balance(conn, schema, WALLET, owner)
        total = await ledger.entries_sum(conn, schema, WALLET, owner)
        count = len(await ledger.entries(conn, schema, WALLET, owner, limit=1000))
    return balance, total, count


async def test_concurrent_debits_never_make_a_balance_negative(db: Database, schema: str) -> None:
    owner = str(uuid.uuid4())
    async with db.transaction() as conn:
        assert (
            await ledger.post(conn, schema, WALLET, owner, 100, kind="top-up", reference="t1")
            == 100
        )

    async def debit(n: int) -> int | None:
        async with db.transaction() as conn:
            return await ledger.post(
                conn, schema, WALLET, owner, -15, kind="checkout", reference=f"c{n}"
            )

    results = await asyncio.gather(*(debit(n) for n in range(15)), return_exceptions=True)
    ok = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert len(ok) == 6 and len(refused) == 9
    assert all(r.status == 402 for r in refused)
    assert sorted(ok) == [10, 25, 40, 55, 70, 85]
    assert await _state(db, schema, owner) == (10, 10, 7)


async def test_an_uncovered_debit_changes_nothing_even_if_the_caller_goes_on(
    db: Database, schema: str
) -> None:
    owner = str(uuid.uuid4())
    async with db.transaction() as conn:
        await ledger.post(conn, schema, WALLET, owner, 50, kind="top-up", reference="t1")
    async with db.transaction() as conn:
        with pytest.raises(InsufficientFunds):
            await ledger.post(conn, schema, WALLET, owner, -80, kind="checkout", reference="c1")
        # the caller records the refusal and commits: the refused posting must leave no entry
        await ledger.post(conn, schema, WALLET, owner, 5, kind="goodwill", reference="g1")
    assert await _state(db, schema, owner) == (55, 55, 2)
    async with db.transaction() as conn:  # the reference is still free for a covered retry
        assert (
            await ledger.post(conn, schema, WALLET, owner, -55, kind="checkout", reference="c1")
            == 0
        )


async def test_debiting_an_account_that_does_not_exist_is_refused(
    db: Database, schema: str
) -> None:
    owner = str(uuid.uuid4())
    with pytest.raises(InsufficientFunds):
        async with db.transaction() as conn:
            await ledger.post(conn, schema, WALLET, owner, -1, kind="checkout", reference="c1")
    assert await _state(db, schema, owner) == (0, 0, 0)


async def test_the_same_kind_and_reference_posts_once(db: Database, schema: str) -> None:
    owner = str(uuid.uuid4())

    async def credit() -> int | None:
        async with db.transaction() as conn:
            return await ledger.post(
                conn, schema, WALLET, owner, 30, kind="reward", reference="tx-1", details={"d": 1}
            )

    results = await asyncio.gather(*(credit() for _ in range(10)))
    assert sorted(results, key=lambda r: r is None)[0] == 30
    assert results.count(None) == 9
    async with db.transaction() as conn:  # another kind with the same reference is its own posting
        assert (
            await ledger.post(conn, schema, WALLET, owner, 1, kind="bonus", reference="tx-1") == 31
        )
        entries = await ledger.entries(conn, schema, WALLET, owner)
    assert await _state(db, schema, owner) == (31, 31, 2)
    assert [(e.kind, e.amount) for e in entries] == [("bonus", 1), ("reward", 30)]
    assert entries[1].details == {"d": 1}


async def test_a_zero_posting_is_refused(db: Database, schema: str) -> None:
    async with db.transaction() as conn:
        with pytest.raises(ValueError):
            await ledger.post(conn, schema, WALLET, "x", 0, kind="k", reference="r")


async def test_entries_page_newest_first(db: Database, schema: str) -> None:
    owner = str(uuid.uuid4())
    async with db.transaction() as conn:
        for n in range(5):
            await ledger.post(conn, schema, WALLET, owner, n + 1, kind="top-up", reference=f"t{n}")
        first = await ledger.entries(conn, schema, WALLET, owner, limit=2)
        second = await ledger.entries(conn, schema, WALLET, owner, limit=2, before_id=first[-1].id)
    assert [e.amount for e in first + second] == [5, 4, 3, 2]


async def test_a_refused_batch_leaves_nothing_even_if_the_caller_commits(
    db: Database, schema: str
) -> None:
    rich, poor = sorted(str(uuid.uuid4()) for _ in range(2))
    async with db.transaction() as conn:
        await ledger.post(conn, schema, WALLET, poor, 10, kind="top-up", reference="t1")
    batch = [
        ledger.Posting(WALLET, rich, 40, kind="reward", reference="b1"),
        ledger.Posting(WALLET, poor, -25, kind="checkout", reference="b1"),
    ]
    async with db.transaction() as conn:
        with pytest.raises(InsufficientFunds):
            await ledger.post_many(conn, schema, batch)
        # the caller records the refusal and commits: no posting of the batch may remain
        await ledger.post(conn, schema, WALLET, poor, 5, kind="goodwill", reference="g1")
    assert await _state(db, schema, rich) == (0, 0, 0)
    assert await _state(db, schema, poor) == (15, 15, 2)
    async with db.transaction() as conn:  # the references are still free for a covered retry
        moved = await ledger.post_many(
            conn, schema, [batch[0], ledger.Posting(WALLET, poor, -15, "checkout", "b1")]
        )
    assert moved == {(WALLET, rich): 40, (WALLET, poor): 0}
