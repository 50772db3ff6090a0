"""What the edge refuses because PostgreSQL could not store it, and how database errors
are classified (unavailable, transient, refused input)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import asyncpg

from shared.http.validation import MAX_DEPTH, unstorable
from shared.storage.pool import is_refused_input, is_transient, is_unavailable


def test_values_postgresql_can_store_pass() -> None:
    value = {"name": "Ada é 漢", "n": 2**63 - 1, "m": -(2**63), "ok": True, "f": 1.5}
    assert unstorable(value) == []


def test_nul_surrogates_wide_integers_and_nan_are_named_by_location() -> None:
    value = {"a": "x\x00y", "b": ["ok", "\ud800"], "c": 2**63, "d": float("nan"), "e\x00": 1}
    locs = sorted(tuple(map(str, e["loc"])) for e in unstorable(value))
    assert locs == [("a",), ("b", "1"), ("c",), ("d",), ("e\x00",)]


def test_nesting_deeper_than_the_limit_is_refused_without_recursion() -> None:
    deep: object = 1
    for _ in range(100_000):
        deep = [deep]
    errors = unstorable(deep)
    assert [e["type"] for e in errors] == ["depth"]
    assert len(errors[0]["loc"]) == MAX_DEPTH + 1


def test_a_datetime_that_leaves_the_calendar_in_utc_is_refused() -> None:
    late = datetime(9999, 12, 31, 23, 0, tzinfo=timezone(-timedelta(hours=14)))
    assert [e["loc"] for e in unstorable({"at": late})] == [["at"]]


def test_database_errors_are_classified() -> None:
    too_wide = asyncpg.exceptions._base.DataError("invalid input for query argument $1")
    assert not is_unavailable(too_wide) and is_refused_input(too_wide)
    assert not is_transient(too_wide)
    for transient in (
        asyncpg.exceptions.SerializationError("could not serialize access"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        asyncpg.exceptions.ReadOnlySQLTransactionError("read-only transaction"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
    ):
        assert is_transient(transient) and not is_refused_input(transient)
    assert is_unavailable(ConnectionRefusedError()) and is_transient(ConnectionRefusedError())
    assert not is_transient(asyncpg.exceptions.UniqueViolationError("duplicate key"))
