"""A connection released to the pool sends nothing more, and the next user of it still finds
a fresh session: transaction-level locks and settings ended with their transaction, and a
transaction left open is rolled back (by asyncpg, before the pool's reset hook)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.config import Settings
from shared.storage.pool import Database

LOCK = 7_310_999


@pytest.fixture
async def single(settings: Settings) -> AsyncIterator[Database]:
    """A pool of one connection, so every acquire gets the same session back."""
    database = Database(settings.database_url, min_size=1, max_size=1)
    await database.start()
    await database.wait_ready(timeout=10)
    yield database
    await database.close()


async def _last_query(settings: Settings, pid: int) -> str:
    """What the backend `pid` ran last, seen from another connection."""
    other = await asyncpg.connect(settings.database_url)
    try:
        return str(await other.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", pid))
    finally:
        await other.close()


async def test_release_sends_no_reset_round_trip(single: Database, settings: Settings) -> None:
    async with single.transaction() as conn:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK)
    # The session's last statement is the transaction's COMMIT, not asyncpg's default reset
    # (`SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`).
    assert (await _last_query(settings, pid)).strip().rstrip(";").upper() == "COMMIT"


async def test_the_next_user_finds_no_state_of_the_last(single: Database) -> None:
    async with single.transaction() as conn:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        default_timeout = await conn.fetchval("SHOW statement_timeout")
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK)
        await conn.execute("SET LOCAL statement_timeout = '1234ms'")
        await conn.execute("DECLARE leftover CURSOR FOR SELECT 1")
    async with single.acquire() as conn:
        assert await conn.fetchval("SELECT pg_backend_pid()") == pid  # the same session
        locks = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $1", pid
        )
        assert locks == 0
        assert await conn.fetchval("SHOW statement_timeout") == default_timeout
        assert await conn.fetchval("SELECT count(*) FROM pg_cursors WHERE name = 'leftover'") == 0
        assert not conn.is_in_transaction()


async def test_a_transaction_left_open_is_rolled_back_on_release(
    single: Database, settings: Settings
) -> None:
    table = "pool_reset_probe"
    async with single.acquire() as conn:
        await conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (n int)")
        await conn.execute("BEGIN")  # not through conn.transaction(): nobody will end it
        await conn.execute(f"INSERT INTO {table} VALUES (1)")
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK)
    async with single.acquire() as conn:
        assert not conn.is_in_transaction()
        assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        locks = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $1", pid
        )
        assert locks == 0
        await conn.execute(f"DROP TABLE {table}")
