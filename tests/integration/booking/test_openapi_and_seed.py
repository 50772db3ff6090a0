"""The API describes itself; demo data loads once."""

from __future__ import annotations

from services.booking_api.seed import DEMO_PROVIDER, seed
from shared.config import Settings
from shared.storage.pool import Database
from tests.integration.booking.api import BookingApi

ROUTES = {
    ("/available-slots", "get"),
    ("/providers/{provider_id}/slots", "post"),
    ("/bookings", "post"),
    ("/bookings/{booking_id}", "get"),
    ("/bookings/{booking_id}/history", "get"),
    ("/bookings/{booking_id}/cancel", "post"),
    ("/providers/{provider_id}/bookings", "get"),
    ("/providers/{provider_id}/bookings/{booking_id}/accept", "post"),
    ("/providers/{provider_id}/bookings/{booking_id}/reject", "post"),
    ("/providers/{provider_id}/stats", "get"),
}


async def test_openapi_document_lists_every_route_with_its_models(api: BookingApi) -> None:
    response = await api.client.get("/openapi.json")
    assert response.status == 200
    document = await response.json()
    assert document["openapi"].startswith("3.1")
    listed = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert listed >= ROUTES
    book = document["paths"]["/bookings"]["post"]
    assert {"201", "401", "404", "409", "422"} <= set(book["responses"])
    assert "Idempotency-Key" in [p["name"] for p in book["parameters"]]
    schema = document["components"]["schemas"]["NewBooking"]
    assert schema["required"] == ["slot_id"]
    slots = document["paths"]["/available-slots"]["get"]
    assert {"provider_id", "from", "to", "limit", "cursor"} <= {
        p["name"] for p in slots["parameters"]
    }
    stats = document["paths"]["/providers/{provider_id}/stats"]["get"]
    bounds = {p["name"]: p for p in stats["parameters"] if p["in"] == "query"}
    assert set(bounds) == {"from", "to"} and all(p["schema"]["examples"] for p in bounds.values())
    figures = document["components"]["schemas"]["ProviderStats"]
    assert {"acceptance_rate", "median_answer_seconds"} <= set(figures["examples"][0])
    page = await api.client.get("/docs")
    assert page.status == 200
    assert "/bookings/{booking_id}/history" in await page.text()


async def test_seed_creates_bookable_demo_slots_once(
    api: BookingApi, settings: Settings, db: Database
) -> None:
    async with db.transaction() as conn:
        first = await seed(conn, settings)
    async with db.transaction() as conn:
        second = await seed(conn, settings)
    assert first > 0
    assert second == 0
    listed = await api.get(f"/available-slots?provider_id={DEMO_PROVIDER}&limit=200", "u", "user")
    slots = (await listed.json())["items"]
    assert len(slots) == first
    assert (await api.booked("demo-user", slots[0]["id"]))["provider_id"] == DEMO_PROVIDER
