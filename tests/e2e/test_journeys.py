"""Journeys across the real processes of a stack started as `make run` starts it.

A provider and a user meet over a slot: the request reaches the provider's inbox, the answer
reaches the user and the request leaves the inbox. A customer checks out: the rewards reach
the people who referred them, in points and in a notice. Every wait polls with a deadline.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from shared.config import Settings
from tests.e2e.api_client import JSON, ApiClient
from tests.support.wait import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

# An event crosses the outbox, SQS and a consumer: seconds, never tens of them.
DELIVERY = 15.0
# An answered request leaves the inbox at once, not when it would have expired.
LEAVES_INBOX = 10.0


@pytest.fixture
async def api(running_stack: Settings) -> AsyncIterator[ApiClient]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        yield ApiClient(http, running_stack)


def someone(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:8]}"


async def published_slot(api: ApiClient, provider: str) -> JSON:
    # Two days ahead: the request's expiry (the default TTL of a day) is far off, so only an
    # answer can take it out of the inbox within this test.
    starts_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    return await api.publish_slot(provider, starts_at, starts_at + timedelta(hours=1))


async def in_inbox(api: ApiClient, provider: str, booking_id: str) -> bool:
    return any(item["booking_id"] == booking_id for item in await api.inbox(provider))


async def not_in_inbox(api: ApiClient, provider: str, booking_id: str) -> bool:
    return not await in_inbox(api, provider, booking_id)


async def notice(api: ApiClient, user: str, kind: str, booking_id: str) -> JSON | None:
    for item in await api.notifications(user):
        if item["kind"] == kind and item["data"].get("booking_id") == booking_id:
            return item
    return None


async def requested_booking(api: ApiClient, provider: str, user: str) -> JSON:
    """A user books a fresh slot of the provider and the request reaches the inbox."""
    slot = await published_slot(api, provider)
    booking = await api.book(user, slot["id"])
    assert booking["status"] == "pending"
    await eventually(
        lambda: in_inbox(api, provider, booking["id"]),
        timeout=DELIVERY,
        interval=0.2,
        what="the request in the provider's inbox",
    )
    return booking


async def test_an_accepted_booking_reaches_the_user_and_leaves_the_provider_inbox(
    api: ApiClient,
) -> None:
    provider, user = someone("provider"), someone("user")
    booking = await requested_booking(api, provider, user)
    [request] = await api.inbox(provider)
    assert (request["user_id"], request["slot_id"]) == (user, booking["slot_id"])

    accepted = await api.accept(provider, booking["id"])
    assert accepted["status"] == "confirmed"

    confirmation = await eventually(
        lambda: notice(api, user, "BOOKING_CONFIRMED", booking["id"]),
        timeout=DELIVERY,
        interval=0.2,
        what="the confirmation in the user's notifications",
    )
    assert confirmation["data"]["provider_id"] == provider
    await eventually(
        lambda: not_in_inbox(api, provider, booking["id"]),
        timeout=LEAVES_INBOX,
        interval=0.2,
        what="the accepted request gone from the inbox",
    )


async def test_a_rejected_booking_tells_the_user_why_frees_the_slot_and_leaves_the_inbox(
    api: ApiClient,
) -> None:
    provider, user = someone("provider"), someone("user")
    booking = await requested_booking(api, provider, user)

    rejected = await api.reject(provider, booking["id"], "fully booked that day")
    assert rejected["status"] == "rejected"

    rejection = await eventually(
        lambda: notice(api, user, "BOOKING_REJECTED", booking["id"]),
        timeout=DELIVERY,
        interval=0.2,
        what="the rejection in the user's notifications",
    )
    assert "fully booked that day" in rejection["body"]
    assert [slot["id"] for slot in await api.open_slots(user, provider)] == [booking["slot_id"]]
    await eventually(
        lambda: not_in_inbox(api, provider, booking["id"]),
        timeout=LEAVES_INBOX,
        interval=0.2,
        what="the rejected request gone from the inbox",
    )


async def test_a_cancelled_booking_leaves_the_inbox_and_frees_the_slot_for_someone_else(
    api: ApiClient,
) -> None:
    provider, user, other = someone("provider"), someone("user"), someone("user")
    booking = await requested_booking(api, provider, user)

    cancelled = await api.cancel(user, booking["id"], "plans changed")
    assert cancelled["status"] == "cancelled"

    await eventually(
        lambda: not_in_inbox(api, provider, booking["id"]),
        timeout=LEAVES_INBOX,
        interval=0.2,
        what="the cancelled request gone from the inbox",
    )
    await eventually(
        lambda: notice(api, user, "BOOKING_CANCELLED", booking["id"]),
        timeout=DELIVERY,
        interval=0.2,
        what="the cancellation in the user's notifications",
    )
    rebooked = await api.book(other, booking["slot_id"])
    await eventually(
        lambda: in_inbox(api, provider, rebooked["id"]),
        timeout=DELIVERY,
        interval=0.2,
        what="the new request in the provider's inbox",
    )


async def rewards_done(api: ApiClient, buyer: str, transaction_id: str) -> bool:
    return bool((await api.transaction(buyer, transaction_id))["rewards"] == "done")


async def rewards_notice(api: ApiClient, customer: str, transaction_id: str) -> JSON | None:
    for item in await api.notifications(customer, role="customer"):
        if item["kind"] == "REWARDS_DISTRIBUTED" and (
            item["data"].get("transaction_id") == transaction_id
        ):
            return item
    return None


async def test_a_checkout_pays_once_and_its_rewards_reach_every_referrer_up_the_tree(
    api: ApiClient,
) -> None:
    founder = await api.register_customer("Founder")
    referrer = await api.register_customer("Referrer", referrer_id=founder["id"])
    buyer = await api.register_customer("Buyer", referrer_id=referrer["id"])
    lamp = await api.add_product(f"Lamp {uuid.uuid4().hex[:6]}", price=12_345)
    assert (await api.top_up(buyer["id"], 50_000))["balance"] == 50_000

    cart = await api.add_to_cart(buyer["id"], lamp["id"], quantity=1)
    assert cart["total"] == 12_345
    key = f"order-{uuid.uuid4()}"
    paid = await api.check_out(buyer["id"], key)
    assert (paid["total"], paid["balance"], paid["rewards"]) == (12_345, 37_655, "pending")
    # The customer's retry (a lost answer, a second tap) pays nothing more.
    assert await api.check_out(buyer["id"], key) == paid
    assert (await api.wallet(buyer["id"]))["balance"] == 37_655

    transaction_id = paid["transaction_id"]
    await eventually(
        lambda: rewards_done(api, buyer["id"], transaction_id),
        timeout=DELIVERY,
        interval=0.2,
        what="the transaction's rewards done",
    )
    # 10 % to the direct referrer, 5 % one level further up (docs/reward-worker.md).
    for customer, points in ((referrer, 1_234), (founder, 617)):
        rewards = await api.rewards(customer["id"])
        assert rewards["points"] == points, (customer["name"], rewards)
        told = await eventually(
            lambda customer=customer: rewards_notice(api, customer["id"], transaction_id),
            timeout=DELIVERY,
            interval=0.2,
            what=f"the rewards notice of {customer['name']}",
        )
        assert told["data"]["points"] == points
    assert (await api.rewards(buyer["id"]))["points"] == 0
