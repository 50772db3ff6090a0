"""The referral tree: referrers must exist, no cycles, the upline is one query."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from shared.storage import ledger
from shared.storage.pool import Database
from tests.integration.checkout.conftest import Api


async def _upline(db: Database, customer: str, depth: int) -> list[tuple[str, int]]:
    async with db.acquire() as conn:
        rows = await conn.fetch(
            "SELECT customer_id, depth FROM checkout.upline($1, $2)", uuid.UUID(customer), depth
        )
    return [(str(r["customer_id"]), r["depth"]) for r in rows]


async def test_the_upline_lists_referrers_nearest_first_up_to_the_depth_asked(
    api: Api, db: Database
) -> None:
    chain = [await api.customer("Root")]
    for n in range(5):
        chain.append(await api.customer(f"Member {n}", chain[-1]))
    leaf = chain[-1]

    expected = [(c, d) for d, c in enumerate(reversed(chain[:-1]), start=1)]
    assert await _upline(db, leaf, 10) == expected
    assert await _upline(db, leaf, 2) == expected[:2]
    assert await _upline(db, leaf, 0) == []
    assert await _upline(db, chain[0], 10) == []
    assert await _upline(db, str(uuid.uuid4()), 10) == []

    customer = await api.ok(await api.client.get(f"/customers/{leaf}", headers=api.admin))
    assert customer == {
        "id": leaf,
        "name": "Member 4",
        "referrer_id": chain[-2],
        "level": 1,
        "tier": 0,
    }


async def test_a_referrer_that_does_not_exist_is_refused(api: Api) -> None:
    response = await api.client.post(
        "/customers", json={"name": "Eve", "referrer_id": str(uuid.uuid4())}, headers=api.admin
    )
    assert response.status == 422
    assert (await response.json())["title"] == "Unknown referrer"


async def test_the_database_refuses_a_referral_cycle_even_written_directly(
    api: Api, db: Database
) -> None:
    root = await api.customer("Root")
    child = await api.customer("Child", root)
    leaf = await api.customer("Leaf", child)
    async with db.acquire() as conn:
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "UPDATE checkout.customers SET referrer_id = $1 WHERE id = $2",
                uuid.UUID(leaf),
                uuid.UUID(root),
            )
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO checkout.customers (id, name, referrer_id) VALUES ($1, 'Me', $1)",
                uuid.uuid4(),
            )
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "UPDATE checkout.customers SET referrer_id = id WHERE id = $1",
                uuid.UUID(root),
            )


async def test_rewards_show_points_level_and_entries(api: Api, db: Database) -> None:
    ada = await api.customer("Ada", tier=3)
    async with db.transaction() as conn:
        credit = ledger.Transfer(
            None, "reward_credit", "t:1", ledger.REWARDS, ledger.points(ada), 42
        )
        await ledger.post(conn, "checkout", [credit])
    body = await api.ok(
        await api.client.get(f"/customers/{ada}/rewards", headers=api.as_customer(ada))
    )
    assert body["points"] == 42
    assert body["level"] == 1
    assert [(e["kind"], e["amount"]) for e in body["entries"]] == [("reward_credit", 42)]
