"""asyncpg pool that starts while the database is down and recovers by itself.

`Database.start()` returns at once; a background task connects with exponential backoff.
Until it succeeds, `acquire()` raises ServiceUnavailable (503 at the HTTP edge). Once the
pool exists asyncpg replaces broken connections itself; the errors a dead server raises in
the meantime are recognised by `is_unavailable` and answered with 503 as well; so are the
errors `is_transient` recognises (deadlocks, serialization failures, a read-only server).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from shared.errors import ServiceUnavailable
from shared.logging import get_logger
from shared.retry import backoff_delay

log = get_logger(__name__)

_UNAVAILABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.TooManyConnectionsError,
    # A connection broken mid-statement by a server going away leaves asyncpg's protocol in
    # a state it cannot leave ("cannot switch to state ..."): the server, not the query.
    asyncpg.InternalClientError,
)


# Values of a query that the client library or the server refused: an integer past 64 bits
# (asyncpg's DataError, an InterfaceError, so not "unavailable"), a NUL character in text,
# a number or datetime out of the column's range.
_REFUSED_INPUT = (
    asyncpg.exceptions._base.DataError,
    asyncpg.exceptions.CharacterNotInRepertoireError,
    asyncpg.exceptions.UntranslatableCharacterError,
    asyncpg.exceptions.NumericValueOutOfRangeError,
    asyncpg.exceptions.DatetimeFieldOverflowError,
    asyncpg.exceptions.StringDataRightTruncationError,
)


def is_unavailable(exc: BaseException) -> bool:
    """True when the error means the database cannot be reached, not that the query is wrong."""
    if isinstance(exc, asyncpg.exceptions._base.DataError):
        return False
    return isinstance(exc, (ServiceUnavailable, *_UNAVAILABLE))


def is_refused_input(exc: BaseException) -> bool:
    """True when the database refused a value of the query itself (out of range, NUL)."""
    return isinstance(exc, _REFUSED_INPUT)


# Errors after which the same work, run again, can succeed: the transaction lost a race
# (serialization failure, deadlock: class 40), a lock could not be had in time, the server
# it reached accepts no writes (a standby during a failover), or the server ended the
# session. Clients get 503 with Retry-After; consumers run the handler again.
_TRANSIENT = (
    asyncpg.exceptions.TransactionRollbackError,
    asyncpg.exceptions.ReadOnlySQLTransactionError,
    asyncpg.exceptions.LockNotAvailableError,
    asyncpg.exceptions.IdleInTransactionSessionTimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    """True when running the same work again may succeed: the database is unavailable
    (`is_unavailable`) or the transaction failed for reasons of timing, not of its content."""
    return is_unavailable(exc) or isinstance(exc, _TRANSIENT)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection released to the pool sends: nothing.

    asyncpg rolls back a transaction left open and drops the connection's listeners
    itself before calling this; its default reset then sends one more round trip
    (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`) after every transaction.
    None of it has anything to undo here, because no code keeps session state on a pooled
    connection: advisory locks are transaction-level (`pg_advisory_xact_lock`), cursors
    live inside transactions, settings are `SET LOCAL` if any, and LISTEN (the outbox
    relay's) and the migrations' session lock each use a connection of their own, outside
    the pool. tests/unit/foundation/test_pool_reset.py keeps the code to that."""


class Database:
    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        command_timeout: float = 10.0,
        acquire_timeout: float = 5.0,
    ) -> None:
        self.dsn = dsn
        self._pool_args: dict[str, Any] = {
            "min_size": min_size,
            "max_size": max_size,
            "command_timeout": command_timeout,
            "reset": _keep_session,
        }
        self.acquire_timeout = acquire_timeout
        self._pool: asyncpg.Pool | None = None
        self._connector: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        """Begin connecting in the background; return at once."""
        self._connector = asyncio.create_task(self._connect_forever(), name="db-connect")

    async def wait_ready(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._ready.wait(), timeout)

    async def _connect_forever(self) -> None:
        attempt = 0
        while True:
            try:
                self._pool = await asyncpg.create_pool(self.dsn, **self._pool_args)
            except Exception as exc:
                delay = backoff_delay(attempt)
                log.warning(
                    "database not reachable, retrying",
                    attempt=attempt + 1,
                    retry_in=round(delay, 2),
                    error=repr(exc),
                )
                attempt += 1
                await asyncio.sleep(delay)
                continue
            log.info("database pool ready", attempts=attempt + 1)
            self._ready.set()
            return

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise ServiceUnavailable("the database is not reachable yet")
        return self._pool

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.pool.acquire(timeout=self.acquire_timeout) as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self, **kwargs: Any) -> AsyncIterator[asyncpg.Connection]:
        async with self.acquire() as conn, conn.transaction(**kwargs):
            yield conn

    async def ping(self) -> None:
        async with self.acquire() as conn:
            await conn.fetchval("SELECT 1")

    async def close(self) -> None:
        if self._connector is not None and not self._connector.done():
            self._connector.cancel()
            await asyncio.gather(self._connector, return_exceptions=True)
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
