"""A small client of the running stack for the journeys: one helper per thing a person does.

Each helper sends one request with a token of the acting person (minted with the secret the
stack was started with), checks the status the contract promises and returns the JSON body.
An unexpected status fails with the problem document the service answered, so a failing
journey says why.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import aiohttp

from shared.config import Settings
from shared.http.auth import mint_token

JSON = dict[str, Any]
ADMIN = ("e2e-admin", "admin")


class ApiClient:
    """Talks to the five processes of one stack over HTTP, as its users do."""

    def __init__(self, http: aiohttp.ClientSession, settings: Settings) -> None:
        self.http = http
        self.settings = settings
        self.booking = settings.booking_api_port
        self.checkout = settings.checkout_api_port

    async def _call(
        self,
        method: str,
        port: int,
        path: str,
        actor: tuple[str, str],
        *,
        expect: int = 200,
        body: JSON | None = None,
        key: str | None = None,
    ) -> Any:
        sub, role = actor
        headers = {"Authorization": f"Bearer {mint_token(self.settings.jwt_secret, sub, role)}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        url = f"http://127.0.0.1:{port}{path}"
        async with self.http.request(method, url, json=body, headers=headers) as response:
            text = await response.text()
            if response.status != expect:
                raise AssertionError(
                    f"{method} {path} as {role} {sub}: {response.status}, not {expect}: {text}"
                )
            return await response.json(content_type=None)

    # Booking (booking_api) ---------------------------------------------------------------

    async def publish_slot(self, provider: str, starts_at: datetime, ends_at: datetime) -> JSON:
        """The provider publishes an open slot."""
        body = {"starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat()}
        path = f"/providers/{provider}/slots"
        return await self._call(
            "POST", self.booking, path, (provider, "provider"), expect=201, body=body
        )

    async def open_slots(self, user: str, provider: str) -> list[JSON]:
        """The open slots of a provider, as a user browsing them sees them."""
        path = f"/available-slots?provider_id={provider}"
        page = await self._call("GET", self.booking, path, (user, "user"))
        return list(page["items"])

    async def book(self, user: str, slot_id: str) -> JSON:
        """The user books a slot; the booking is pending until the provider answers."""
        body = {"slot_id": slot_id}
        key = str(uuid.uuid4())
        return await self._call(
            "POST", self.booking, "/bookings", (user, "user"), expect=201, body=body, key=key
        )

    async def accept(self, provider: str, booking_id: str) -> JSON:
        """The provider accepts a pending booking."""
        path = f"/providers/{provider}/bookings/{booking_id}/accept"
        return await self._call("POST", self.booking, path, (provider, "provider"))

    async def reject(self, provider: str, booking_id: str, reason: str) -> JSON:
        """The provider rejects a pending booking, saying why."""
        path = f"/providers/{provider}/bookings/{booking_id}/reject"
        body = {"reason": reason}
        return await self._call("POST", self.booking, path, (provider, "provider"), body=body)

    async def cancel(self, user: str, booking_id: str, reason: str) -> JSON:
        """The user cancels their own booking."""
        path = f"/bookings/{booking_id}/cancel"
        return await self._call("POST", self.booking, path, (user, "user"), body={"reason": reason})

    # The consumers' read sides -----------------------------------------------------------

    async def inbox(self, provider: str) -> list[JSON]:
        """The requests still waiting for the provider's answer (provider_consumer)."""
        port = self.settings.provider_consumer_port
        path = f"/providers/{provider}/inbox"
        inbox = await self._call("GET", port, path, (provider, "provider"))
        return list(inbox["items"])

    async def notifications(self, recipient: str, role: str = "user") -> list[JSON]:
        """What a user or customer has been told, newest first (notification_consumer)."""
        port = self.settings.notification_consumer_port
        path = f"/users/{recipient}/notifications"
        found = await self._call("GET", port, path, (recipient, role))
        return list(found["items"])

    # Checkout (checkout_api) -------------------------------------------------------------

    async def register_customer(self, name: str, referrer_id: str | None = None) -> JSON:
        """An admin registers a customer, referred by another one or not."""
        body = {"name": name, "referrer_id": referrer_id}
        return await self._call("POST", self.checkout, "/customers", ADMIN, expect=201, body=body)

    async def add_product(self, name: str, price: int) -> JSON:
        """An admin adds a product to the catalogue."""
        body = {"name": name, "price": price}
        return await self._call("POST", self.checkout, "/products", ADMIN, expect=201, body=body)

    async def top_up(self, customer_id: str, amount: int) -> JSON:
        """An admin credits a customer's wallet (money moves only under an Idempotency-Key)."""
        body = {"customer_id": customer_id, "amount": amount}
        key = str(uuid.uuid4())
        return await self._call(
            "POST", self.checkout, "/wallet/top-ups", ADMIN, expect=201, body=body, key=key
        )

    async def add_to_cart(self, customer_id: str, product_id: str, quantity: int) -> JSON:
        """The customer puts units of a product in their cart."""
        body = {"product_id": product_id, "quantity": quantity}
        actor = (customer_id, "customer")
        return await self._call("POST", self.checkout, "/carts/me/items", actor, body=body)

    async def check_out(self, customer_id: str, key: str) -> JSON:
        """The customer pays the cart from the wallet, under the given Idempotency-Key."""
        actor = (customer_id, "customer")
        return await self._call("POST", self.checkout, "/checkout", actor, expect=201, key=key)

    async def wallet(self, customer_id: str) -> JSON:
        """The customer's wallet: balance and entries."""
        return await self._call("GET", self.checkout, "/wallet", (customer_id, "customer"))

    async def transaction(self, customer_id: str, transaction_id: str) -> JSON:
        """One of the customer's transactions, with its reward status."""
        path = f"/transactions/{transaction_id}"
        return await self._call("GET", self.checkout, path, (customer_id, "customer"))

    async def rewards(self, customer_id: str) -> JSON:
        """The customer's tree points, level and reward entries."""
        path = f"/customers/{customer_id}/rewards"
        return await self._call("GET", self.checkout, path, (customer_id, "customer"))
