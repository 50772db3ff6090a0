"""Idempotency-Key handling for mutating POSTs.

The key row is inserted in the same transaction as the effect, after a transaction-level
advisory lock on (schema, principal, key) taken with `pg_try_advisory_xact_lock`. A duplicate
that arrives while the first is in flight does not get the lock and is answered 409 with
Retry-After at once (as Stripe does): it never waits holding a pool connection, so a retry
storm on one slow request cannot exhaust the pool. A duplicate after the first commits
replays the stored response; after the first rolls back, it runs the effect itself. So N
concurrent requests with one key produce exactly one effect.

A transaction that loses a race inside PostgreSQL (a deadlock or serialization failure) was
rolled back whole, key row included, so it is run again at once, a few times, before the
client is told 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from aiohttp import web

from shared.errors import Conflict, Problem
from shared.http.app import SETTINGS
from shared.http.lifecycle import DATABASE, run_periodic
from shared.http.validation import text_problem
from shared.logging import get_logger
from shared.retry import backoff_delay
from shared.storage.pool import Database

log = get_logger(__name__)

T = TypeVar("T")
Effect = Callable[[asyncpg.Connection], Awaitable[tuple[int, Any]]]
HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
PURGE_SLICE = 5000
PURGE_INTERVAL_CAP = 3600.0
# Seconds a duplicate of a request in flight is told to wait before retrying.
IN_FLIGHT_RETRY_AFTER = 1
RACE_ATTEMPTS = 3  # runs of a transaction that lost a race (deadlock, serialization)


class InFlight(Conflict):
    """A request with this Idempotency-Key is still running: retry later (409, Retry-After)."""

    def __init__(self) -> None:
        super().__init__(f"a request with this {HEADER} is in progress; retry later")
        self.retry_after = IN_FLIGHT_RETRY_AFTER


def _lock_key(schema: str, principal: str, key: str) -> int:
    """A signed 64-bit advisory lock id of (schema, principal, key)."""
    digest = hashlib.sha256(f"idempotency\0{schema}\0{principal}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _dumps(payload: Any) -> str:
    return json.dumps(payload, default=str, separators=(",", ":"))


def _response(status: int, body: str, *, replayed: bool) -> web.Response:
    response = web.Response(status=status, text=body, content_type="application/json")
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


async def idempotent(
    request: web.Request,
    db: Database,
    schema: str,
    principal: str,
    effect: Effect,
    *,
    ttl: float,
    required: bool = False,
) -> web.Response:
    """Run `effect` in a transaction once per (principal, Idempotency-Key)."""
    key = request.headers.get(HEADER)
    if key is None:
        if required:
            raise Problem(400, f"the {HEADER} header is required")
        status, payload = await _rerun_lost_races(db, effect)
        return _response(status, _dumps(payload), replayed=False)
    if not 0 < len(key) <= MAX_KEY_LENGTH:
        raise Problem(400, f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters")
    if not key.isprintable() or text_problem(key) is not None:  # bytes that are not UTF-8
        raise Problem(400, f"{HEADER} must be printable text")
    digest = hashlib.sha256(
        f"{request.method} {request.path}\n".encode() + await request.read()
    ).hexdigest()

    async def once(conn: asyncpg.Connection) -> web.Response:
        # Whoever holds the lock has the key row uncommitted (or is about to insert it):
        # waiting for it would hold this connection for as long as the first request runs.
        if not await conn.fetchval(
            "SELECT pg_try_advisory_xact_lock($1)", _lock_key(schema, principal, key)
        ):
            raise InFlight()
        await conn.execute(
            f"DELETE FROM {schema}.idempotency_keys "
            "WHERE principal = $1 AND key = $2 AND expires_at < now()",
            principal,
            key,
        )
        claimed = await conn.fetchval(
            f"""INSERT INTO {schema}.idempotency_keys (principal, key, request_hash, expires_at)
                VALUES ($1, $2, $3, now() + make_interval(secs => $4))
                ON CONFLICT DO NOTHING RETURNING true""",
            principal,
            key,
            digest,
            ttl,
        )
        if not claimed:
            row = await conn.fetchrow(
                f"SELECT request_hash, status, body FROM {schema}.idempotency_keys "
                "WHERE principal = $1 AND key = $2",
                principal,
                key,
            )
            if row is None:  # expired and purged between the two statements
                raise InFlight()
            if row["request_hash"] != digest:
                raise Problem(422, f"this {HEADER} was used with a different request")
            return _response(row["status"], row["body"], replayed=True)
        status, payload = await effect(conn)
        body = _dumps(payload)
        await conn.execute(
            f"UPDATE {schema}.idempotency_keys SET status = $3, body = $4 "
            "WHERE principal = $1 AND key = $2",
            principal,
            key,
            status,
            body,
        )
        return _response(status, body, replayed=False)

    return await _rerun_lost_races(db, once)


async def _rerun_lost_races(db: Database, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Run `work` in a transaction; again when PostgreSQL rolled it back for a lost race."""
    for attempt in range(1, RACE_ATTEMPTS + 1):
        try:
            async with db.transaction() as conn:
                return await work(conn)
        except asyncpg.exceptions.TransactionRollbackError as exc:
            if attempt == RACE_ATTEMPTS:
                raise  # the edge answers 503 with Retry-After
            log.info("transaction lost a race, running it again", error=repr(exc), attempt=attempt)
            await asyncio.sleep(backoff_delay(attempt, base=0.01, cap=0.1))
    raise AssertionError("unreachable")


async def purge_expired(db: Database, schema: str, *, limit: int = PURGE_SLICE) -> int:
    """Delete up to `limit` expired keys; return how many went."""
    async with db.acquire() as conn:
        result = await conn.execute(
            f"""DELETE FROM {schema}.idempotency_keys WHERE (principal, key) IN (
                    SELECT principal, key FROM {schema}.idempotency_keys
                    WHERE expires_at < now() LIMIT $1)""",
            limit,
        )
    return int(result.split()[-1])


def use_idempotency_purge(app: web.Application, schema: str) -> None:
    """Purge `schema`'s expired Idempotency-Keys in the background (a key lives
    `idempotency_ttl`), in slices, at once again while a whole slice went."""
    interval = min(max(app[SETTINGS].idempotency_ttl, 1.0), PURGE_INTERVAL_CAP)

    async def step(app: web.Application) -> bool:
        return await purge_expired(app[DATABASE], schema) >= PURGE_SLICE

    run_periodic(app, "idempotency-purge", step, interval=interval)
