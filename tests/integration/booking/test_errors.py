"""Unknown ids are 404, malformed input 400 or 422, all as problem+json; never a 500."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.http.app import PROBLEM_JSON
from tests.integration.booking.api import BookingApi, unique


async def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == PROBLEM_JSON
    body: dict[str, Any] = await response.json()
    assert body["status"] == status
    return body


async def test_unknown_booking_is_404_on_every_route(api: BookingApi) -> None:
    provider, user = unique("provider"), unique("user")
    missing = uuid.uuid4()
    await problem(await api.get(f"/bookings/{missing}", user, "user"), 404)
    await problem(await api.get(f"/bookings/{missing}/history", user, "user"), 404)
    await problem(await api.cancel(user, str(missing)), 404)
    await problem(await api.answer(provider, str(missing), "accept"), 404)
    await problem(await api.answer(provider, str(missing), "reject"), 404)
    await problem(await api.get("/bookings/not-a-uuid", user, "user"), 404)


async def test_booking_an_unknown_slot_is_404(api: BookingApi) -> None:
    body = await problem(await api.book(unique("user"), str(uuid.uuid4())), 404)
    assert "slot" in body["detail"]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"slot_id": "not-a-uuid"},
        {"slot_id": str(uuid.uuid4()), "notes": "x" * 501},
        {"slot_id": str(uuid.uuid4()), "unexpected": 1},
        [1, 2],
    ],
)
async def test_invalid_booking_request_is_422(api: BookingApi, payload: Any) -> None:
    response = await api.client.post(
        "/bookings", json=payload, headers=api.auth(unique("user"), "user")
    )
    await problem(response, 422)


async def test_malformed_json_is_400(api: BookingApi) -> None:
    headers = api.auth(unique("user"), "user")
    await problem(await api.client.post("/bookings", data=b"{nope", headers=headers), 400)
    await problem(await api.client.post("/bookings", data=b"", headers=headers), 400)


@pytest.mark.parametrize(
    ("starts", "ends", "naive"),
    [
        (timedelta(hours=2), timedelta(hours=1), False),  # ends before it starts
        (timedelta(hours=-2), timedelta(hours=-1), False),  # in the past
        (timedelta(hours=1), timedelta(hours=2), True),  # no time zone
    ],
)
async def test_invalid_slot_is_422(
    api: BookingApi, starts: timedelta, ends: timedelta, naive: bool
) -> None:
    provider = unique("provider")
    now = datetime.now(UTC).replace(tzinfo=None) if naive else datetime.now(UTC)
    response = await api.client.post(
        f"/providers/{provider}/slots",
        json={"starts_at": (now + starts).isoformat(), "ends_at": (now + ends).isoformat()},
        headers=api.auth(provider, "provider"),
    )
    await problem(response, 422)


async def test_invalid_reason_is_422_and_changes_nothing(api: BookingApi) -> None:
    provider, user = unique("provider"), unique("user")
    booking = await api.booked(user, (await api.create_slot(provider))["id"])
    await problem(await api.answer(provider, booking["id"], "reject", {"reason": 5}), 422)
    response = await api.get(f"/bookings/{booking['id']}", user, "user")
    assert (await response.json())["status"] == "pending"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("limit=0", 422),
        ("limit=abc", 422),
        ("from=yesterday", 422),
        ("cursor=%%%", 400),
        ("cursor=bm9wZQ", 400),
    ],
)
async def test_bad_list_query_is_rejected(api: BookingApi, query: str, status: int) -> None:
    await problem(await api.get(f"/available-slots?{query}", unique("user"), "user"), status)


async def test_open_slots_are_filtered_and_paginated(api: BookingApi) -> None:
    provider = unique("provider")
    slots = [await api.create_slot(provider, hours_ahead=10 + i) for i in range(5)]
    await api.booked(unique("user"), slots[2]["id"])  # held: not listed
    listed: list[str] = []
    url = f"/available-slots?provider_id={provider}&limit=2"
    while url:
        response = await api.get(url, provider, "provider")
        assert response.status == 200
        page = await response.json()
        assert len(page["items"]) <= 2
        listed += [slot["id"] for slot in page["items"]]
        cursor = page["next_cursor"]
        url = f"/available-slots?provider_id={provider}&limit=2&cursor={cursor}" if cursor else ""
    assert listed == [slots[i]["id"] for i in (0, 1, 3, 4)]

    window_from = slots[1]["starts_at"].replace("+00:00", "Z")
    window_to = slots[4]["starts_at"].replace("+00:00", "Z")
    response = await api.get(
        f"/available-slots?provider_id={provider}&from={window_from}&to={window_to}",
        provider,
        "provider",
    )
    assert [s["id"] for s in (await response.json())["items"]] == [slots[1]["id"], slots[3]["id"]]


async def test_provider_sees_its_bookings_newest_first_filtered_by_status(
    api: BookingApi,
) -> None:
    provider = unique("provider")
    bookings = [
        await api.booked(unique("user"), (await api.create_slot(provider))["id"]) for _ in range(3)
    ]
    await api.answer(provider, bookings[1]["id"], "accept")
    response = await api.get(f"/providers/{provider}/bookings?limit=2", provider, "provider")
    page = await response.json()
    assert [b["id"] for b in page["items"]] == [bookings[2]["id"], bookings[1]["id"]]
    response = await api.get(
        f"/providers/{provider}/bookings?cursor={page['next_cursor']}", provider, "provider"
    )
    assert [b["id"] for b in (await response.json())["items"]] == [bookings[0]["id"]]
    response = await api.get(
        f"/providers/{provider}/bookings?status=confirmed", provider, "provider"
    )
    assert [b["id"] for b in (await response.json())["items"]] == [bookings[1]["id"]]
