"""The flows of booking_api as OpenAPI links: a published slot is booked, a booking is read,
answered, cancelled or moved (`@operation(links=...)` of each route names its set)."""

from __future__ import annotations

from shared.http.openapi_links import Link

BOOKING_ID = {"booking_id": "$response.body#/id"}
PROVIDER_BOOKING = {"provider_id": "$response.body#/provider_id", **BOOKING_ID}
PROVIDER = {"provider_id": "$response.body#/provider_id"}

AFTER_SLOT = (
    Link("BookSlot", "POST /bookings", "book the slot", body={"slot_id": "$response.body#/id"}),
    Link(
        "WithdrawSlot",
        "DELETE /providers/{provider_id}/slots/{slot_id}",
        "withdraw the slot while it is open",
        {**PROVIDER, "slot_id": "$response.body#/id"},
    ),
    Link(
        "ProviderBookings",
        "GET /providers/{provider_id}/bookings",
        "the provider's bookings",
        PROVIDER,
    ),
    Link("ProviderStats", "GET /providers/{provider_id}/stats", "the provider's figures", PROVIDER),
)

AFTER_SLOT_PAGE = (
    Link(
        "BookListedSlot",
        "POST /bookings",
        "book the first slot listed",
        body={"slot_id": "$response.body#/items/0/id"},
    ),
)

# Every answer that is a booking leads to the same next steps: read it, answer it, end it.
AFTER_BOOKING = (
    Link("GetBooking", "GET /bookings/{booking_id}", "the booking as it is now", BOOKING_ID),
    Link(
        "BookingHistory",
        "GET /bookings/{booking_id}/history",
        "its status history",
        BOOKING_ID,
    ),
    Link(
        "CancelBooking",
        "POST /bookings/{booking_id}/cancel",
        "the user cancels it",
        BOOKING_ID,
    ),
    Link(
        "RescheduleBooking",
        "POST /bookings/{booking_id}/reschedule",
        "the user moves it to another slot",
        BOOKING_ID,
    ),
    Link(
        "AcceptBooking",
        "POST /providers/{provider_id}/bookings/{booking_id}/accept",
        "the provider accepts it",
        PROVIDER_BOOKING,
    ),
    Link(
        "RejectBooking",
        "POST /providers/{provider_id}/bookings/{booking_id}/reject",
        "the provider rejects it",
        PROVIDER_BOOKING,
    ),
    Link(
        "ProviderCancelBooking",
        "POST /providers/{provider_id}/bookings/{booking_id}/cancel",
        "the provider cancels it",
        PROVIDER_BOOKING,
    ),
)

AFTER_BOOKING_PAGE = (
    Link(
        "GetListedBooking",
        "GET /bookings/{booking_id}",
        "the first booking listed",
        {"booking_id": "$response.body#/items/0/id"},
    ),
)
