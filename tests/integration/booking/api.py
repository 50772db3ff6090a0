"""A thin client of booking_api for tests: tokens, slots and bookings over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from services.booking_api.app import create_app
from shared.config import Settings
from shared.http.auth import mint_token
from tests.support.http import bearer, serve
from tests.support.wait import eventually


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class BookingApi:
    def __init__(self, client: TestClient[Any, Any], settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self._next_hour: dict[str, int] = {}  # a provider's calendar never overlaps

    async def create_slot(
        self, provider: str, *, hours_ahead: float | None = None
    ) -> dict[str, Any]:
        """A one-hour slot; by default the hour after the last one this client made."""
        if hours_ahead is None:
            hours_ahead = 24.0 + self._next_hour.get(provider, 0)
            self._next_hour[provider] = self._next_hour.get(provider, 0) + 1
        return await self._create_slot(provider, hours_ahead)

    def auth(self, sub: str, role: str) -> dict[str, str]:
        return bearer(mint_token(self.settings.jwt_secret, sub, role))

    async def _create_slot(self, provider: str, hours_ahead: float) -> dict[str, Any]:
        starts_at = datetime.now(UTC) + timedelta(hours=hours_ahead)
        response = await self.client.post(
            f"/providers/{provider}/slots",
            json={
                "starts_at": starts_at.isoformat(),
                "ends_at": (starts_at + timedelta(hours=1)).isoformat(),
            },
            headers=self.auth(provider, "provider"),
        )
        assert response.status == 201, await response.text()
        return dict(await response.json())

    async def book(self, user: str, slot_id: str, **extra: Any) -> Any:
        return await self.client.post(
            "/bookings", json={"slot_id": slot_id, **extra}, headers=self.auth(user, "user")
        )

    async def booked(self, user: str, slot_id: str) -> dict[str, Any]:
        response = await self.book(user, slot_id)
        assert response.status == 201, await response.text()
        return dict(await response.json())

    async def answer(
        self, provider: str, booking_id: str, verb: str, body: dict[str, Any] | None = None
    ) -> Any:
        return await self.client.post(
            f"/providers/{provider}/bookings/{booking_id}/{verb}",
            json=body,
            headers=self.auth(provider, "provider"),
        )

    async def cancel(self, user: str, booking_id: str, reason: str | None = None) -> Any:
        return await self.client.post(
            f"/bookings/{booking_id}/cancel",
            json={"reason": reason} if reason else None,
            headers=self.auth(user, "user"),
        )

    async def get(self, path: str, sub: str, role: str) -> Any:
        return await self.client.get(path, headers=self.auth(sub, role))

    async def slot_status(self, provider: str, slot_id: str) -> str | None:
        """The slot's status as listed, or None when it is not listed as open."""
        response = await self.get(f"/available-slots?provider_id={provider}", provider, "provider")
        slots = (await response.json())["items"]
        return next((s["status"] for s in slots if s["id"] == slot_id), None)


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[BookingApi]:
    """booking_api on a real port, once its database pool is ready."""
    async with serve(create_app(settings)) as client:

        async def ready() -> bool:
            return (await client.get("/readyz")).status == 200

        await eventually(ready, timeout=15, what="booking_api ready")
        yield BookingApi(client, settings)
