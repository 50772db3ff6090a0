"""`make audit` around each test module that moves money: the module fails, at teardown,
with every finding it left that was not there before it ran.

A conftest turns it on for its folder with `audit_money = money_audit_fixture()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import asyncpg
import pytest

from shared.config import Settings
from tools.audit import audit


async def findings(dsn: str) -> set[str]:
    """Every finding of the audit over the database (none when it has no checkout schema)."""
    conn = await asyncpg.connect(dsn)
    try:
        if not await conn.fetchval("SELECT to_regclass('checkout.ledger_transfers') IS NOT NULL"):
            return set()
        return set(await audit(conn))
    finally:
        await conn.close()


def money_audit_fixture() -> Callable[..., Iterator[None]]:
    """A module-scoped, autouse fixture running the audit before and after the module."""

    @pytest.fixture(scope="module", autouse=True)
    def audit_money(request: pytest.FixtureRequest, settings: Settings) -> Iterator[None]:
        before = asyncio.run(findings(settings.database_url))
        yield
        new = asyncio.run(findings(settings.database_url)) - before
        if new:
            pytest.fail(
                f"make audit after {request.node.nodeid}: {len(new)} finding(s)\n"
                + "\n".join(sorted(new)),
                pytrace=False,
            )

    return audit_money
