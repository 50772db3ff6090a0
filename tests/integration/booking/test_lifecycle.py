"""The booking state machine over HTTP: every allowed move, every forbidden one, the slot."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.config import Settings
from tests.integration.booking.api import BookingApi, running, unique
from tests.support.wait import eventually


async def test_booking_is_pending_and_holds_the_slot(api: BookingApi) -> None:
    provider, user = unique("provider"), unique("user")
    slot = await api.create_slot(provider)
    assert slot["status"] == "open"
    assert await api.slot_status(provider, slot["id"]) == "open"

    booking = await api.booked(user, slot["id"])

    assert booking["status"] == "pending"
    assert booking["user_id"] == user
    assert booking["provider_id"] == provider
    assert await api.slot_status(provider, slot["id"]) is None  # held: no longer listed


async def test_second_booking_of_a_slot_is_a_conflict(api: BookingApi) -> None:
    slot = await api.create_slot(unique("provider"))
    await api.booked(unique("user"), slot["id"])
    response = await api.book(unique("user"), slot["id"])
    assert response.status == 409
    assert (await response.json())["slot_status"] == "held"


async def test_accepted_booking_is_confirmed_and_can_then_be_cancelled(api: BookingApi) -> None:
    provider, user = unique("provider"), unique("user")
    slot = await api.create_slot(provider)
    booking = await api.booked(user, slot["id"])

    accepted = await api.answer(provider, booking["id"], "accept")
    assert accepted.status == 200
    assert (await accepted.json())["status"] == "confirmed"
    assert (await api.book(unique("user"), slot["id"])).status == 409

    cancelled = await api.cancel(user, booking["id"], "plans changed")
    assert cancelled.status == 200
    body = await cancelled.json()
    assert (body["status"], body["reason"]) == ("cancelled", "plans changed")
    assert await api.slot_status(provider, slot["id"]) == "open"


async def test_rejected_booking_releases_the_slot_for_someone_else(api: BookingApi) -> None:
    provider = unique("provider")
    slot = await api.create_slot(provider)
    booking = await api.booked(unique("user"), slot["id"])

    rejected = await api.answer(provider, booking["id"], "reject", {"reason": "on holiday"})
    assert rejected.status == 200
    assert (await rejected.json())["reason"] == "on holiday"
    assert await api.slot_status(provider, slot["id"]) == "open"
    assert (await api.book(unique("user"), slot["id"])).status == 201


async def test_pending_booking_can_be_cancelled_by_its_user(api: BookingApi) -> None:
    provider, user = unique("provider"), unique("user")
    slot = await api.create_slot(provider)
    booking = await api.booked(user, slot["id"])
    response = await api.cancel(user, booking["id"])
    assert response.status == 200
    assert (await response.json())["status"] == "cancelled"
    assert await api.slot_status(provider, slot["id"]) == "open"


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ("accept", "accept"),
        ("accept", "reject"),
        ("reject", "accept"),
        ("reject", "reject"),
        ("reject", "cancel"),
        ("cancel", "accept"),
        ("cancel", "reject"),
        ("cancel", "cancel"),
    ],
)
async def test_any_other_transition_is_a_conflict(api: BookingApi, first: str, then: str) -> None:
    provider, user = unique("provider"), unique("user")
    slot = await api.create_slot(provider)
    booking = await api.booked(user, slot["id"])

    async def move(verb: str) -> int:
        if verb == "cancel":
            return int((await api.cancel(user, booking["id"])).status)
        return int((await api.answer(provider, booking["id"], verb)).status)

    assert await move(first) == 200
    assert await move(then) == 409
    history = await api.get(f"/bookings/{booking['id']}/history", user, "user")
    assert len((await history.json())["entries"]) == 2  # the refused move left no event


async def test_history_lists_each_status_with_time_actor_and_reason(api: BookingApi) -> None:
    provider, user = unique("provider"), unique("user")
    slot = await api.create_slot(provider)
    booking = await api.booked(user, slot["id"])
    await api.answer(provider, booking["id"], "accept")
    await api.cancel(user, booking["id"], "sick")

    response = await api.get(f"/bookings/{booking['id']}/history", provider, "provider")
    assert response.status == 200
    entries = (await response.json())["entries"]
    assert [(e["status"], e["actor"], e["reason"]) for e in entries] == [
        ("pending", user, None),
        ("confirmed", provider, None),
        ("cancelled", user, "sick"),
    ]
    times = [e["at"] for e in entries]
    assert times == sorted(times)


@pytest.fixture
async def short_ttl_api(settings: Settings) -> AsyncIterator[BookingApi]:
    fast = settings.model_copy(update={"booking_pending_ttl": 0.3, "booking_expiry_interval": 0.1})
    async with running(fast) as api:
        yield api


async def test_unanswered_booking_expires_and_releases_the_slot(
    short_ttl_api: BookingApi,
) -> None:
    api = short_ttl_api
    provider, user = unique("provider"), unique("user")
    slot = await api.create_slot(provider)
    booking = await api.booked(user, slot["id"])

    async def expired() -> bool:
        response = await api.get(f"/bookings/{booking['id']}", user, "user")
        return bool((await response.json())["status"] == "expired")

    await eventually(expired, timeout=10, what="booking expired")
    assert await api.slot_status(provider, slot["id"]) == "open"
    assert (await api.answer(provider, booking["id"], "accept")).status == 409
    history = await api.get(f"/bookings/{booking['id']}/history", user, "user")
    last = (await history.json())["entries"][-1]
    assert (last["status"], last["actor"]) == ("expired", "system:expiry")


async def test_answered_booking_never_expires(short_ttl_api: BookingApi) -> None:
    api = short_ttl_api
    provider, user = unique("provider"), unique("user")
    slot = await api.create_slot(provider)
    confirmed = await api.booked(user, slot["id"])
    await api.answer(provider, confirmed["id"], "accept")
    other = await api.booked(user, (await api.create_slot(provider))["id"])

    async def other_expired() -> bool:
        response = await api.get(f"/bookings/{other['id']}", user, "user")
        return bool((await response.json())["status"] == "expired")

    await eventually(other_expired, timeout=10, what="the unanswered booking expired")
    response = await api.get(f"/bookings/{confirmed['id']}", user, "user")
    assert (await response.json())["status"] == "confirmed"


async def test_unanswered_booking_expires_when_its_slot_starts(settings: Settings) -> None:
    fast_sweep = settings.model_copy(update={"booking_expiry_interval": 0.1})
    async with running(fast_sweep) as api:
        provider, user = unique("provider"), unique("user")
        slot = await api.create_slot(provider, hours_ahead=1.5 / 3600)  # starts in 1.5 s
        booking = await api.booked(user, slot["id"])
        assert booking["expires_at"] == slot["starts_at"]

        async def expired() -> bool:
            response = await api.get(f"/bookings/{booking['id']}", user, "user")
            return bool((await response.json())["status"] == "expired")

        await eventually(expired, timeout=10, what="booking expired at the slot's start")
