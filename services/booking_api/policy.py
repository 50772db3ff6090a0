"""Who may do what to a booking: every access rule of the booking context in one place.

Admins may do anything; a user acts on their own bookings; a provider on the bookings of
their own slots and on the resources under their own `/providers/{provider_id}` path.
"""

from __future__ import annotations

from services.booking_api.domain import Booking
from shared.errors import Forbidden, NotFound
from shared.http.auth import Principal


def may_see(principal: Principal, booking: Booking) -> None:
    """403 unless the caller is the booking's user, its provider, or an admin."""
    if principal.is_admin:
        return
    if principal.role == "user" and booking.user_id == principal.sub:
        return
    if principal.role == "provider" and booking.provider_id == principal.sub:
        return
    raise Forbidden("this is someone else's booking")


def may_change_as_user(principal: Principal, booking: Booking) -> None:
    """Only the booking's user (or an admin) cancels or reschedules it as the user."""
    principal.require_owner(booking.user_id, "booking")


def may_act_as_provider(principal: Principal, provider_id: str, booking: Booking) -> None:
    """The path's provider answers only the bookings of their own slots. An admin acting on
    a booking of another provider than the path's gets 404: the path names no such booking."""
    principal.require_owner(provider_id, "resource")
    if booking.provider_id != provider_id:
        if principal.is_admin:
            raise NotFound("booking", booking.id)
        raise Forbidden("this is another provider's booking")


def provider_in_path(principal: Principal, provider_id: str) -> str:
    """The path's provider, whom only that provider (or an admin) may act for."""
    principal.require_owner(provider_id, "resource")
    return provider_id
