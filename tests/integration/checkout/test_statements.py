"""Statements: a customer's own transactions page by page with reward and refund status,
and their rewards with the credits and the reversals refunds made."""

from __future__ import annotations

from shared.storage.pool import Database
from tests.integration.checkout.conftest import Api
from tests.integration.checkout.test_refunds import paid_checkout, refund, run_job


async def test_a_customer_pages_through_their_own_transactions_with_refund_status(
    api: Api, db: Database
) -> None:
    referrer = await api.customer("Referrer")
    buyer = await api.customer("Buyer", referrer)
    other = await api.customer("Other")
    product = await api.product("Pen", 1_000)
    await api.top_up(buyer, 10_000)
    first = await paid_checkout(api, buyer, product, 1)
    second = await paid_checkout(api, buyer, product, 2)
    third = await paid_checkout(api, buyer, product, 3)
    for transaction_id in (first, second):
        await run_job(db, transaction_id)
    partial = await api.ok(await refund(api, second, {"amount": 500}), 201)
    await api.ok(await refund(api, first), 201)
    await run_job(db, partial["refund_id"])

    me = api.as_customer(buyer)
    page = await api.ok(await api.client.get("/transactions?limit=2", headers=me))
    assert [t["id"] for t in page["items"]] == [third, second]
    newest, middle = page["items"]
    assert (newest["rewards"], newest["refund"], newest["refunded"]) == ("pending", "none", 0)
    assert (middle["rewards"], middle["refund"], middle["refunded"]) == ("done", "partial", 500)
    assert middle["reversals_pending"] == 0
    rest = await api.ok(
        await api.client.get(f"/transactions?limit=2&cursor={page['next_cursor']}", headers=me)
    )
    (oldest,) = rest["items"]
    assert (oldest["id"], oldest["refund"], oldest["reversals_pending"]) == (first, "full", 1)
    assert rest["next_cursor"] is None

    theirs = await api.client.get(
        f"/transactions?customer_id={buyer}", headers=api.as_customer(other)
    )
    assert theirs.status == 403
    empty = await api.ok(await api.client.get("/transactions", headers=api.as_customer(other)))
    assert empty == {"items": [], "next_cursor": None}
    assert (await api.client.get("/transactions", headers=api.admin)).status == 422
    bad = await api.client.get("/transactions?cursor=not-a-cursor", headers=me)
    assert bad.status == 400


async def test_rewards_show_the_credits_and_the_reversals_of_refunds(
    api: Api, db: Database
) -> None:
    referrer = await api.customer("Referrer")
    buyer = await api.customer("Buyer", referrer)
    product = await api.product("Book", 3_000)
    await api.top_up(buyer, 3_000)
    transaction_id = await paid_checkout(api, buyer, product, 1)
    await run_job(db, transaction_id)
    out = await api.ok(await refund(api, transaction_id, {"amount": 1_000}), 201)
    await run_job(db, out["refund_id"])

    path = f"/customers/{referrer}/rewards"
    rewards = await api.ok(await api.client.get(path, headers=api.as_customer(referrer)))
    assert rewards["points"] == 300 - 100
    reversal, credit = rewards["entries"]  # newest first
    assert (credit["kind"], credit["amount"]) == ("reward_credit", 300)
    assert (reversal["kind"], reversal["amount"]) == ("reward_reversal", -100)
    assert reversal["details"]["refund_id"] == out["refund_id"]
    assert reversal["details"]["transaction_id"] == transaction_id
