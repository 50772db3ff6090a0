"""The double-entry ledger: every transfer is two entries summing to zero, customer balances
never go negative and equal their entries, a transfer happens once per (kind, reference)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from shared.storage import ledger
from shared.storage.ledger import TOP_UPS, WALLET, InsufficientFunds, Transfer, wallet
from shared.storage.pool import Database

SHOP = ledger.SHOP


def top_up(owner: str, amount: int, reference: str, **details: object) -> Transfer:
    return Transfer(None, "top_up", reference, TOP_UPS, wallet(owner), amount, dict(details))


def pay(owner: str, amount: int, reference: str) -> Transfer:
    return Transfer(None, "checkout_debit", reference, wallet(owner), SHOP, amount)


async def _state(db: Database, schema: str, owner: str) -> tuple[int, int, int]:
    async with db.acquire() as conn:
        balance = await ledger.balance(conn, schema, WALLET, owner)
        total = await ledger.entries_sum(conn, schema, WALLET, owner)
        count = len(await ledger.entries(conn, schema, WALLET, owner, limit=1000))
    return balance, total, count


async def _unbalanced(db: Database, schema: str) -> list[int]:
    async with db.acquire() as conn:
        rows = await conn.fetch(
            f"""SELECT transfer_id FROM {schema}.ledger_entries GROUP BY transfer_id
                HAVING sum(amount) <> 0 OR count(*) <> 2"""
        )
    return [row[0] for row in rows]


async def test_concurrent_debits_never_make_a_balance_negative(db: Database, schema: str) -> None:
    owner = str(uuid.uuid4())
    async with db.transaction() as conn:
        assert await ledger.post(conn, schema, [top_up(owner, 100, "t1")]) == {wallet(owner): 100}

    async def debit(n: int) -> int:
        async with db.transaction() as conn:
            return (await ledger.post(conn, schema, [pay(owner, 15, f"c{n}")]))[wallet(owner)]

    results = await asyncio.gather(*(debit(n) for n in range(15)), return_exceptions=True)
    ok = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert len(ok) == 6 and len(refused) == 9
    assert all(r.status == 402 for r in refused)
    assert sorted(ok) == [10, 25, 40, 55, 70, 85]
    assert await _state(db, schema, owner) == (10, 10, 7)
    async with db.acquire() as conn:
        assert await ledger.balance(conn, schema, SHOP.type, SHOP.owner) == 90
        assert await ledger.balance(conn, schema, TOP_UPS.type, TOP_UPS.owner) == -100
    assert await _unbalanced(db, schema) == []


async def test_an_uncovered_debit_changes_nothing_even_if_the_caller_goes_on(
    db: Database, schema: str
) -> None:
    owner = str(uuid.uuid4())
    async with db.transaction() as conn:
        await ledger.post(conn, schema, [top_up(owner, 50, "t1")])
    async with db.transaction() as conn:
        with pytest.raises(InsufficientFunds):
            await ledger.post(conn, schema, [pay(owner, 80, "c1")])
        # the caller records the refusal and commits: the refused transfer must leave nothing
        await ledger.post(conn, schema, [top_up(owner, 5, "g1")])
    assert await _state(db, schema, owner) == (55, 55, 2)
    async with db.transaction() as conn:  # the reference is still free for a covered retry
        assert await ledger.post(conn, schema, [pay(owner, 55, "c1")]) == {wallet(owner): 0}


async def test_debiting_an_account_that_does_not_exist_is_refused(
    db: Database, schema: str
) -> None:
    owner = str(uuid.uuid4())
    with pytest.raises(InsufficientFunds):
        async with db.transaction() as conn:
            await ledger.post(conn, schema, [pay(owner, 1, "c1")])
    assert await _state(db, schema, owner) == (0, 0, 0)


async def test_the_same_kind_and_reference_transfers_once(db: Database, schema: str) -> None:
    owner = str(uuid.uuid4())

    async def credit() -> dict[ledger.Account, int]:
        async with db.transaction() as conn:
            return await ledger.post(conn, schema, [top_up(owner, 30, "tx-1", d=1)])

    results = await asyncio.gather(*(credit() for _ in range(10)))
    assert results.count({wallet(owner): 30}) == 1 and results.count({}) == 9
    async with db.transaction() as conn:  # another kind with the same reference is its own
        bonus = Transfer(None, "bonus", "tx-1", TOP_UPS, wallet(owner), 1)
        assert await ledger.post(conn, schema, [bonus]) == {wallet(owner): 31}
        entries = await ledger.entries(conn, schema, WALLET, owner)
    assert await _state(db, schema, owner) == (31, 31, 2)
    assert [(e.kind, e.amount, e.counter) for e in entries] == [
        ("bonus", 1, TOP_UPS),
        ("top_up", 30, TOP_UPS),
    ]
    assert entries[1].details == {"d": 1} and entries[1].reference == "tx-1"
    assert await _unbalanced(db, schema) == []


async def test_the_database_refuses_an_entry_of_the_wrong_sign(db: Database, schema: str) -> None:
    owner = str(uuid.uuid4())
    async with db.transaction() as conn:
        await ledger.post(conn, schema, [top_up(owner, 5, "t1")])
    async with db.transaction() as conn:
        with pytest.raises(Exception, match="check constraint"):
            await conn.execute(
                f"UPDATE {schema}.ledger_entries SET amount = -amount WHERE side = 'credit'"
            )


async def test_entries_page_newest_first(db: Database, schema: str) -> None:
    owner = str(uuid.uuid4())
    async with db.transaction() as conn:
        await ledger.post(conn, schema, [top_up(owner, n + 1, f"t{n}") for n in range(5)])
        first = await ledger.entries(conn, schema, WALLET, owner, limit=2)
        second = await ledger.entries(
            conn, schema, WALLET, owner, limit=2, before=first[-1].transfer_id
        )
    assert [e.amount for e in first + second] == [5, 4, 3, 2]


async def test_a_refused_batch_leaves_nothing_even_if_the_caller_commits(
    db: Database, schema: str
) -> None:
    rich, poor = sorted(str(uuid.uuid4()) for _ in range(2))
    async with db.transaction() as conn:
        await ledger.post(conn, schema, [top_up(poor, 10, "t1")])
    batch = [top_up(rich, 40, "b1"), pay(poor, 25, "b1")]
    async with db.transaction() as conn:
        with pytest.raises(InsufficientFunds):
            await ledger.post(conn, schema, batch)
        # the caller records the refusal and commits: no transfer of the batch may remain
        await ledger.post(conn, schema, [top_up(poor, 5, "g1")])
    assert await _state(db, schema, rich) == (0, 0, 0)
    assert await _state(db, schema, poor) == (15, 15, 2)
    async with db.transaction() as conn:  # the references are still free for a covered retry
        moved = await ledger.post(conn, schema, [batch[0], pay(poor, 15, "b1")])
    assert moved == {wallet(rich): 40, wallet(poor): 0}


async def test_without_a_savepoint_an_uncovered_debit_is_refused_and_rolls_back_whole(
    db: Database, schema: str
) -> None:
    rich, poor = sorted(str(uuid.uuid4()) for _ in range(2))
    async with db.transaction() as conn:
        await ledger.post(conn, schema, [top_up(poor, 10, "t1")])
    batch = [top_up(rich, 40, "b1"), pay(poor, 25, "b1")]
    with pytest.raises(InsufficientFunds):
        async with db.transaction() as conn:  # a projector's caller: any error rolls back
            await ledger.post(conn, schema, batch, savepoint=False)
    assert await _state(db, schema, rich) == (0, 0, 0)
    assert await _state(db, schema, poor) == (10, 10, 1)
    async with db.transaction() as conn:
        moved = await ledger.post(conn, schema, [batch[0], pay(poor, 10, "b1")], savepoint=False)
    assert moved == {wallet(rich): 40, wallet(poor): 0}
    assert await _unbalanced(db, schema) == []
