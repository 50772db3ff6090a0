"""The mixed workload of the load scenario, over HTTP against the real processes: booking
journeys (a provider publishes a slot, a user books it, the provider accepts or rejects, the
user sometimes cancels), checkouts (cart and direct, with reads and the odd refund), reads of
the consumers' read sides, and hostile requests that must be refused (401)."""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import jwt

from shared.http.auth import mint_token

# What each kind of request may answer; anything else (a 5xx above all) is an error.
EXPECTED: dict[str, set[int]] = {
    "slot": {201},
    "book": {201},
    "accept": {200},
    "reject": {200},
    "cancel": {200},
    "read": {200},
    "cart": {200, 201},
    "checkout": {201},
    "refund": {201},
    "hostile": {401},
}


@dataclass
class Urls:
    booking: str
    checkout: str
    inbox: str  # provider_consumer
    notifications: str  # notification_consumer


@dataclass
class Load:
    """Counts of every request by kind and status, the first unexpected answers, and the
    transactions paid (their rewards are checked after the run)."""

    session: aiohttp.ClientSession
    urls: Urls
    secret: str
    deadline: float
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    transactions: list[str] = field(default_factory=list)

    def auth(self, sub: str, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(self.secret, sub, role)}"}

    async def call(
        self,
        kind: str,
        method: str,
        url: str,
        headers: dict[str, str],
        body: dict[str, Any] | None = None,
        *,
        key: bool = False,
    ) -> Any:
        if key:
            headers = {**headers, "Idempotency-Key": str(uuid.uuid4())}
        async with self.session.request(method, url, json=body, headers=headers) as response:
            payload = await response.json(content_type=None)
            self.statuses[(kind, response.status)] += 1
            if response.status not in EXPECTED[kind] and len(self.unexpected) < 20:
                self.unexpected.append(f"{kind} {method} {url}: {response.status} {payload}")
            return payload if response.status < 300 else None

    def running(self) -> bool:
        return time.monotonic() < self.deadline

    def requests(self) -> int:
        return sum(self.statuses.values())

    def errors(self) -> int:
        return sum(n for (kind, status), n in self.statuses.items() if status not in EXPECTED[kind])

    async def book_journeys(self, rng: random.Random) -> None:
        provider, user = f"provider-{uuid.uuid4().hex[:8]}", f"user-{uuid.uuid4().hex[:8]}"
        as_provider, as_user = self.auth(provider, "provider"), self.auth(user, "user")
        start = datetime.now(UTC) + timedelta(days=2)
        hour = 0
        while self.running():
            starts_at = start + timedelta(hours=hour)
            hour += 1
            slot = await self.call(
                "slot",
                "POST",
                f"{self.urls.booking}/providers/{provider}/slots",
                as_provider,
                {
                    "starts_at": starts_at.isoformat(),
                    "ends_at": (starts_at + timedelta(minutes=30)).isoformat(),
                },
            )
            if slot is None:
                continue
            booking = await self.call(
                "book", "POST", f"{self.urls.booking}/bookings", as_user, {"slot_id": slot["id"]}
            )
            if booking is None:
                continue
            answer = "accept" if rng.random() < 0.7 else "reject"
            base = f"{self.urls.booking}/providers/{provider}/bookings/{booking['id']}"
            await self.call(answer, "POST", f"{base}/{answer}", as_provider, {"reason": "load"})
            if answer == "accept" and rng.random() < 0.3:
                url = f"{self.urls.booking}/bookings/{booking['id']}/cancel"
                await self.call("cancel", "POST", url, as_user, {"reason": "load"})
            if hour % 5 == 0:
                await self.call("read", "GET", f"{self.urls.booking}/bookings", as_user)
                url = f"{self.urls.inbox}/providers/{provider}/inbox"
                await self.call("read", "GET", url, as_provider)
                url = f"{self.urls.notifications}/users/{user}/notifications"
                await self.call("read", "GET", url, as_user)
            if hour % 10 == 0:
                await self.hostile(f"{self.urls.booking}/bookings", user)

    async def checkouts(self, rng: random.Random, buyer: str, product: str) -> None:
        as_buyer, as_admin = self.auth(buyer, "customer"), self.auth("ops", "admin")
        item = {"product_id": product, "quantity": 1}
        n = 0
        while self.running():
            n += 1
            if rng.random() < 0.5:
                await self.call(
                    "cart", "POST", f"{self.urls.checkout}/carts/me/items", as_buyer, item
                )
                paid = await self.call(
                    "checkout", "POST", f"{self.urls.checkout}/checkout", as_buyer, key=True
                )
            else:
                paid = await self.call(
                    "checkout",
                    "POST",
                    f"{self.urls.checkout}/checkout",
                    as_buyer,
                    {"items": [item]},
                    key=True,
                )
            if paid is None:
                continue
            transaction = str(paid["transaction_id"])
            self.transactions.append(transaction)
            url = f"{self.urls.checkout}/transactions/{transaction}"
            if n % 4 == 0:
                await self.call("read", "GET", url, as_buyer)
                await self.call("read", "GET", f"{self.urls.checkout}/wallet", as_buyer)
            if n % 10 == 0:
                await self.call(
                    "refund", "POST", f"{url}/refunds", as_admin, {"amount": 1}, key=True
                )
            if n % 10 == 5:
                await self.hostile(f"{self.urls.checkout}/wallet", buyer)

    async def hostile(self, url: str, sub: str) -> None:
        """An expired token, one signed with another key, and an unsigned one: all 401."""
        now = int(time.time())
        claims = {"sub": sub, "role": "admin", "iat": now - 7200, "exp": now - 3600}
        expired = jwt.encode(claims, self.secret, "HS256")
        other = jwt.encode({**claims, "exp": now + 3600}, "another-key-" * 4, "HS256")
        unsigned = jwt.encode({**claims, "exp": now + 3600}, None, "none")
        for token in (expired, other, unsigned):
            await self.call("hostile", "GET", url, {"Authorization": f"Bearer {token}"})
