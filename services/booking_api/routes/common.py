"""What every booking_api handler shares: the caller, idempotent effects, visible bookings."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from aiohttp import web

from services.booking_api import policy, storage
from services.booking_api.domain import Booking
from services.booking_api.models import booking_out, dump
from services.booking_api.typedefs import SCHEMA
from shared.errors import NotFound
from shared.http.app import SETTINGS
from shared.http.auth import Principal, authenticate
from shared.http.idempotency import Effect, idempotent
from shared.http.lifecycle import DATABASE

ANY_ROLE = ("user", "provider", "admin")


def caller(request: web.Request, *roles: str) -> Principal:
    """The authenticated caller, in one of `roles` (any role of the context by default)."""
    return authenticate(request, request.app[SETTINGS].jwt_secret, *(roles or ANY_ROLE))


async def run_idempotent(
    request: web.Request, principal: Principal, effect: Effect
) -> web.Response:
    """Run `effect` in a transaction, once per Idempotency-Key of the caller."""
    settings = request.app[SETTINGS]
    return await idempotent(
        request, request.app[DATABASE], SCHEMA, principal.sub, effect, ttl=settings.idempotency_ttl
    )


async def booking_response(conn: asyncpg.Connection, booking_id: uuid.UUID) -> tuple[int, Any]:
    """200 and the booking as it is now (in the effect's transaction)."""
    return 200, dump(booking_out(await storage.get_booking(conn, booking_id)))


async def visible_booking(
    conn: asyncpg.Connection, principal: Principal, booking_id: uuid.UUID
) -> asyncpg.Record:
    """The booking, if it exists (404) and the caller may see it (403)."""
    row = await storage.find_booking(conn, booking_id)
    if row is None:
        raise NotFound("booking", booking_id)
    policy.may_see(principal, Booking.from_row(row))
    return row
