"""What every checkout route does first: who is calling, on whose data, once per key."""

from __future__ import annotations

import uuid

import asyncpg
from aiohttp import web

from services.checkout_api import storage
from services.checkout_api.typedefs import SCHEMA
from shared.errors import NotFound
from shared.http.app import SETTINGS
from shared.http.auth import Principal, authenticate
from shared.http.idempotency import Effect, idempotent
from shared.http.lifecycle import DATABASE


def auth(request: web.Request, *roles: str) -> Principal:
    return authenticate(request, request.app[SETTINGS].jwt_secret, *roles)


def me(principal: Principal) -> uuid.UUID:
    """The customer acting; a token whose subject cannot be a customer names no one."""
    try:
        return uuid.UUID(principal.sub)
    except ValueError:
        raise NotFound("customer", principal.sub) from None


async def customer_or_404(conn: asyncpg.Connection, customer_id: uuid.UUID) -> asyncpg.Record:
    row = await storage.customer(conn, customer_id)
    if row is None:
        raise NotFound("customer", customer_id)
    return row


async def run_idempotent(
    request: web.Request, principal: Principal, effect: Effect, *, required: bool = False
) -> web.Response:
    """Run `effect` once per Idempotency-Key of the caller (required for money moves)."""
    settings = request.app[SETTINGS]
    return await idempotent(
        request,
        request.app[DATABASE],
        SCHEMA,
        f"{principal.role}:{principal.sub}",
        effect,
        ttl=settings.idempotency_ttl,
        required=required,
    )
