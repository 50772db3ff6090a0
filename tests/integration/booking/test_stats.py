"""A provider's analytics, read from the projection the booking events feed."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from tests.integration.booking.api import BookingApi, unique


async def stats(api: BookingApi, provider: str, query: str = "", **who: str) -> Any:
    sub, role = who.get("sub", provider), who.get("role", "provider")
    return await api.get(f"/providers/{provider}/stats{query}", sub, role)


async def history_times(api: BookingApi, booking_id: str) -> list[tuple[str, datetime]]:
    response = await api.get(f"/bookings/{booking_id}/history", "root", "admin")
    entries = (await response.json())["entries"]
    return [(e["event_type"], datetime.fromisoformat(e["at"])) for e in entries]


async def test_stats_count_each_outcome_and_the_median_answer_time(api: BookingApi) -> None:
    provider = unique("provider")
    slots = [(await api.create_slot(provider))["id"] for _ in range(7)]
    users = [unique("user") for _ in range(6)]
    ids = [(await api.booked(user, slot))["id"] for user, slot in zip(users, slots, strict=False)]
    accepted, rejected, cancelled, by_provider, moved, _waiting = ids
    for booking in (accepted, cancelled, by_provider, moved):
        assert (await api.answer(provider, booking, "accept")).status == 200
    assert (await api.answer(provider, rejected, "reject", {"reason": "away"})).status == 200
    assert (await api.cancel(users[2], cancelled, "plans changed")).status == 200
    assert (await api.answer(provider, by_provider, "cancel", {"reason": "ill"})).status == 200
    response = await api.client.post(
        f"/bookings/{moved}/reschedule",
        json={"slot_id": slots[6]},
        headers=api.auth(users[4], "user"),
    )
    assert response.status == 200
    assert (await api.answer(provider, moved, "accept")).status == 200  # answered again

    response = await stats(api, provider)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert {k: body[k] for k in ("requests", "accepted", "rejected", "cancelled", "pending")} == {
        "requests": 6,
        "accepted": 4,
        "rejected": 1,
        "cancelled": 2,
        "pending": 1,
    }
    assert (body["cancelled_by_provider"], body["expired"]) == (1, 0)
    assert body["acceptance_rate"] == round(4 / 6, 4)
    assert body["rejection_rate"] == round(1 / 6, 4)
    assert body["cancellation_rate"] == round(2 / 6, 4)
    # Each answer counts from when its request began waiting (made, or moved), per the events.
    durations = []
    for booking in (accepted, rejected, cancelled, by_provider, moved):
        asked = None
        for kind, at in await history_times(api, booking):
            if kind in ("BOOKING_CREATED", "BOOKING_RESCHEDULED"):
                asked = at
            elif kind in ("BOOKING_CONFIRMED", "BOOKING_REJECTED") and asked is not None:
                durations.append((at - asked).total_seconds())
                asked = None
    assert body["answers"] == len(durations) == 6
    assert body["median_answer_seconds"] == pytest.approx(statistics.median(durations), abs=1e-6)


async def test_a_window_without_requests_has_counts_of_zero_and_no_rates(api: BookingApi) -> None:
    provider = unique("provider")
    await api.booked(unique("user"), (await api.create_slot(provider))["id"])
    later = quote((datetime.now(UTC) + timedelta(days=1)).isoformat())
    body = await (await stats(api, provider, f"?from={later}")).json()
    assert (body["requests"], body["answers"]) == (0, 0)
    assert (body["acceptance_rate"], body["median_answer_seconds"]) == (None, None)
    assert datetime.fromisoformat(body["to"]) - datetime.fromisoformat(body["from"]) == timedelta(
        days=30
    )
    recent = await (await stats(api, provider)).json()
    assert (recent["requests"], recent["pending"], recent["acceptance_rate"]) == (1, 1, 0.0)


async def test_stats_refuse_bounds_without_an_offset_or_out_of_order(api: BookingApi) -> None:
    provider = unique("provider")
    for query in (
        "?from=2030-01-01T00:00:00",
        "?to=yesterday",
        "?from=2030-02-01T00:00:00Z&to=2030-01-01T00:00:00Z",
    ):
        response = await stats(api, provider, query)
        assert response.status == 422, query
        assert response.content_type == "application/problem+json"


async def test_only_the_provider_itself_or_an_admin_sees_its_stats(api: BookingApi) -> None:
    provider = unique("provider")
    assert (await stats(api, provider, sub="someone-else")).status == 403
    assert (await stats(api, provider, sub=provider, role="user")).status == 403
    assert (await stats(api, provider, sub="root", role="admin")).status == 200
