"""Bearer tokens: 401 without a valid one, 403 for the wrong role or someone else's booking."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from shared.http.app import PROBLEM_JSON
from tests.integration.booking.api import BookingApi, unique
from tests.support.http import bearer


async def status_of(response: Any) -> int:
    if response.status >= 400:
        assert response.content_type == PROBLEM_JSON
    return int(response.status)


def forged(claims: dict[str, Any], secret: str) -> dict[str, str]:
    return bearer(jwt.encode(claims, secret, "HS256"))


@pytest.fixture
async def booking(api: BookingApi) -> dict[str, Any]:
    provider, user = unique("provider"), unique("user")
    return await api.booked(user, (await api.create_slot(provider))["id"])


async def test_missing_or_malformed_authorization_is_401(
    api: BookingApi, booking: dict[str, Any]
) -> None:
    path = f"/bookings/{booking['id']}"
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic dXNlcjpwdw=="}):
        assert await status_of(await api.client.get(path, headers=headers)) == 401
    assert await status_of(await api.client.get("/available-slots")) == 401
    response = await api.client.post("/bookings", json={"slot_id": booking["slot_id"]})
    assert await status_of(response) == 401


async def test_expired_token_is_401(api: BookingApi, booking: dict[str, Any]) -> None:
    past = int(time.time()) - 60
    headers = forged(
        {"sub": booking["user_id"], "role": "user", "iat": past - 3600, "exp": past},
        api.settings.jwt_secret,
    )
    response = await api.client.get(f"/bookings/{booking['id']}", headers=headers)
    assert await status_of(response) == 401
    assert "expired" in (await response.json())["detail"]


async def test_token_signed_with_another_secret_is_401(
    api: BookingApi, booking: dict[str, Any]
) -> None:
    claims = {"sub": booking["user_id"], "role": "user", "exp": int(time.time()) + 60}
    response = await api.client.get(
        f"/bookings/{booking['id']}", headers=forged(claims, "another-secret-" + "x" * 32)
    )
    assert await status_of(response) == 401


async def test_token_without_a_known_role_is_401(api: BookingApi, booking: dict[str, Any]) -> None:
    claims = {"sub": booking["user_id"], "role": "root", "exp": int(time.time()) + 60}
    response = await api.client.get(
        f"/bookings/{booking['id']}", headers=forged(claims, api.settings.jwt_secret)
    )
    assert await status_of(response) == 401


async def test_wrong_role_is_403(api: BookingApi, booking: dict[str, Any]) -> None:
    provider, user = booking["provider_id"], booking["user_id"]
    slot = await api.create_slot(provider)
    # A provider cannot book, a user cannot publish slots or answer bookings.
    response = await api.client.post(
        "/bookings", json={"slot_id": slot["id"]}, headers=api.auth(provider, "provider")
    )
    assert await status_of(response) == 403
    response = await api.client.post(
        f"/providers/{user}/slots",
        json={"starts_at": slot["starts_at"], "ends_at": slot["ends_at"]},
        headers=api.auth(user, "user"),
    )
    assert await status_of(response) == 403
    response = await api.client.post(
        f"/providers/{provider}/bookings/{booking['id']}/accept", headers=api.auth(user, "user")
    )
    assert await status_of(response) == 403
    # A customer of the mall has no business here at all.
    response = await api.get(f"/bookings/{booking['id']}", user, "customer")
    assert await status_of(response) == 403


async def test_another_users_booking_is_403_to_read_and_to_cancel(
    api: BookingApi, booking: dict[str, Any]
) -> None:
    stranger = unique("user")
    assert await status_of(await api.get(f"/bookings/{booking['id']}", stranger, "user")) == 403
    history = await api.get(f"/bookings/{booking['id']}/history", stranger, "user")
    assert await status_of(history) == 403
    assert await status_of(await api.cancel(stranger, booking["id"])) == 403
    response = await api.get(f"/bookings/{booking['id']}", booking["user_id"], "user")
    assert (await response.json())["status"] == "pending"


async def test_another_providers_booking_is_403(api: BookingApi, booking: dict[str, Any]) -> None:
    owner, other = booking["provider_id"], unique("provider")
    # Through the other provider's own path, and by claiming to be the owner in the path.
    assert await status_of(await api.answer(other, booking["id"], "accept")) == 403
    response = await api.client.post(
        f"/providers/{owner}/bookings/{booking['id']}/reject",
        headers=api.auth(other, "provider"),
    )
    assert await status_of(response) == 403
    assert await status_of(await api.get(f"/bookings/{booking['id']}", other, "provider")) == 403
    listing = await api.get(f"/providers/{owner}/bookings", other, "provider")
    assert await status_of(listing) == 403
    slot = await api.client.post(
        f"/providers/{owner}/slots",
        json={"starts_at": booking["starts_at"], "ends_at": booking["ends_at"]},
        headers=api.auth(other, "provider"),
    )
    assert await status_of(slot) == 403
    response = await api.get(f"/bookings/{booking['id']}", booking["user_id"], "user")
    assert (await response.json())["status"] == "pending"


async def test_owners_and_admins_are_allowed(api: BookingApi, booking: dict[str, Any]) -> None:
    provider, user = booking["provider_id"], booking["user_id"]
    assert (await api.get(f"/bookings/{booking['id']}", user, "user")).status == 200
    assert (await api.get(f"/bookings/{booking['id']}", provider, "provider")).status == 200
    assert (await api.get(f"/bookings/{booking['id']}", "root", "admin")).status == 200
    listing = await api.get(f"/providers/{provider}/bookings", "root", "admin")
    assert booking["id"] in [b["id"] for b in (await listing.json())["items"]]
    response = await api.client.post(
        f"/providers/{provider}/bookings/{booking['id']}/accept",
        headers=api.auth("root", "admin"),
    )
    assert response.status == 200
    history = await api.get(f"/bookings/{booking['id']}/history", user, "user")
    assert (await history.json())["entries"][-1]["actor"] == "root"
