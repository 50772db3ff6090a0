"""The pool releases connections without a reset round trip (shared/storage/pool.py), which
is safe only while no code keeps session state on a pooled connection. This keeps the code
to that: in the SQL of shared/ and services/, session-level advisory locks, LISTEN, session
settings, temporary tables and cursors that outlive their transaction appear only where a
connection of their own is opened for them."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SESSION_STATE = re.compile(
    r"(?i:pg_(try_)?advisory_lock(_shared)?)\s*\("  # session-level; _xact_ ones end with it
    r"|\bLISTEN\b"
    r"|^\s*SET\s+(?!LOCAL\b)"  # a statement that begins with SET, not SET LOCAL
    r"|(?i:set_config)\([^)]*(?i:false)"
    r"|\bCREATE\s+(TEMP|TEMPORARY)\b"
    r"|\bWITH\s+HOLD\b"
)

# Where session state is kept on purpose, each on a connection opened for it alone.
OWN_CONNECTION = {
    "shared/storage/migrations.py": "asyncpg.connect(",  # the migrations' session lock
    "shared/messaging/relay.py": "asyncpg.connect(",  # the outbox relay's LISTEN
}


def _strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, text) of every string in the code that is not a docstring; an f-string's
    literal parts joined, so that a statement built with one is read whole."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [v.value for v in node.values if isinstance(v, ast.Constant)]
            yield node.lineno, "{}".join(str(p) for p in parts)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            yield node.lineno, node.value


def _listeners(tree: ast.AST) -> Iterator[int]:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_listener"
        ):
            yield node.lineno


def test_no_session_state_on_pooled_connections() -> None:
    found = []
    for path in sorted([*ROOT.glob("shared/**/*.py"), *ROOT.glob("services/**/*.py")]):
        relative = path.relative_to(ROOT).as_posix()
        if relative in OWN_CONNECTION:
            continue
        tree = ast.parse(path.read_text())
        found += [
            f"{relative}:{n}: {text!r}" for n, text in _strings(tree) if SESSION_STATE.search(text)
        ]
        found += [f"{relative}:{n}: add_listener" for n in _listeners(tree)]
    assert found == [], "session state on a pooled connection:\n" + "\n".join(found)


def test_the_exceptions_open_a_connection_of_their_own() -> None:
    for relative, opens in OWN_CONNECTION.items():
        assert opens in (ROOT / relative).read_text(), relative


def test_the_pattern_sees_what_it_must() -> None:
    for sql in (
        "SELECT pg_advisory_lock($1)",
        "SELECT pg_try_advisory_lock($1)",
        'LISTEN "booking_outbox"',
        "SET statement_timeout = 0",
        "SELECT set_config('search_path', 'x', false)",
        "CREATE TEMP TABLE t (n int)",
        "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
    ):
        assert SESSION_STATE.search(sql), sql
    for sql in (
        "SELECT pg_advisory_xact_lock($1)",
        "SELECT pg_try_advisory_xact_lock($1)",
        "SET LOCAL statement_timeout = 0",
        "UPDATE t SET n = 1",
        "SELECT set_config('x', 'y', true)",
    ):
        assert not SESSION_STATE.search(sql), sql
