"""asyncpg pool that starts while the database is down and recovers by itself.

`Database.start()` returns at once; a background task connects with exponential backoff.
Until it succeeds, `acquire()` raises ServiceUnavailable (503 at the HTTP edge). Once the
pool exists asyncpg replaces broken connections itself; the errors a dead server raises in
the meantime are recognised by `is_unavailable` and answered with 503 as well; so are the
errors `is_transient` recognises (deadlocks, serialization failures, a read-only server).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
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


class PooledConnection(asyncpg.Connection):  # type: ignore[misc]
    """A pooled connection that remembers whose outbox it wrote to since it was acquired
    (`note_outbox_write`), so that the pool wakes those relays once the rows are committed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outbox_writes: set[str] = set()


def note_outbox_write(conn: asyncpg.Connection, schema: str) -> None:
    """Called by the outbox's writes; a connection from outside a `Database` (a script's own)
    is not noted: its rows wait for the relays' polling."""
    writes = getattr(conn, "outbox_writes", None)
    if writes is not None:
        writes.add(schema)


def outbox_channel(schema: str) -> str:
    return f"{schema}_outbox"


class Database:
    """Besides the pool: outbox wake-ups. A connection that wrote outbox rows wakes, when it
    is released (its transaction over), the relays of this process at once (`on_outbox_write`)
    and those of other processes by one NOTIFY on `<schema>_outbox`, sent outside any
    transaction and coalesced (one in flight at a time). A NOTIFY inside the writing
    transaction would do the same with fewer moving parts, but PostgreSQL serialises the
    commits of every notifying transaction on one lock, WAL flush included, which capped
    writes at a few thousand a second across the server (docs/perf/README.md)."""

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
            "connection_class": PooledConnection,
        }
        self.acquire_timeout = acquire_timeout
        self._pool: asyncpg.Pool | None = None
        self._connector: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        # The NOTIFY payload: a relay of this process, woken directly, ignores its own.
        self.token = uuid.uuid4().hex
        self._outbox_wakes: defaultdict[str, list[Callable[[], None]]] = defaultdict(list)
        self._notify_pending: set[str] = set()
        self._notifier: asyncio.Task[None] | None = None

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
            try:
                yield conn
            finally:
                # The proxy passes the attribute through; a broken connection has none left.
                writes: set[str] = getattr(conn, "outbox_writes", None) or set()
                written = set(writes)
                writes.clear()
        if written:  # rows of a rolled-back transaction wake a relay for nothing: harmless
            self._outbox_written(written)

    def on_outbox_write(self, schema: str, wake: Callable[[], None]) -> None:
        """Call `wake` whenever a connection of this pool has written `schema`'s outbox."""
        self._outbox_wakes[schema].append(wake)

    def _outbox_written(self, schemas: set[str]) -> None:
        for schema in schemas:
            for wake in self._outbox_wakes[schema]:
                wake()
        self._notify_pending |= schemas
        if self._notifier is None or self._notifier.done():
            self._notifier = asyncio.create_task(self._notify_others(), name="outbox-notify")

    async def _notify_others(self) -> None:
        while self._notify_pending:
            channels = [outbox_channel(schema) for schema in self._notify_pending]
            self._notify_pending = set()
            try:
                async with self.pool.acquire(timeout=self.acquire_timeout) as conn:
                    await conn.execute(
                        "SELECT pg_notify(channel, $2) FROM unnest($1::text[]) AS channel",
                        channels,
                        self.token,
                    )
            except Exception as exc:  # other processes' relays still poll
                log.warning("outbox notify failed", channels=channels, error=repr(exc))

    @asynccontextmanager
    async def transaction(self, **kwargs: Any) -> AsyncIterator[asyncpg.Connection]:
        async with self.acquire() as conn, conn.transaction(**kwargs):
            yield conn

    async def ping(self) -> None:
        async with self.acquire() as conn:
            await conn.fetchval("SELECT 1")

    async def close(self) -> None:
        for task in (self._connector, self._notifier):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
