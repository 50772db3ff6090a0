"""A provider's booking routes: list, accept, reject, cancel."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from services.booking_api import commands, policy, storage
from services.booking_api.domain import Status
from services.booking_api.models import Booking as BookingModel
from services.booking_api.models import (
    BookingPage,
    BookingQuery,
    Reason,
    booking_out,
)
from services.booking_api.routes import links
from services.booking_api.routes.common import booking_response, caller, run_idempotent
from services.booking_api.uow import PostgresUnitOfWork
from shared.http.app import SETTINGS, request_trace
from shared.http.lifecycle import DATABASE
from shared.http.openapi import operation
from shared.http.pagination import decode_cursor, page_items
from shared.http.validation import json_response, parse_optional_body, parse_query, path_uuid


@operation(
    "A provider's bookings, newest first",
    query=BookingQuery,
    response=BookingPage,
    links=links.AFTER_BOOKING_PAGE,
)
async def provider_bookings(request: web.Request) -> web.Response:
    principal = caller(request, "provider", "admin")
    provider_id = policy.provider_in_path(principal, request.match_info["provider_id"])
    query = parse_query(request, BookingQuery)
    async with request.app[DATABASE].acquire() as conn:
        rows = await storage.provider_bookings(
            conn,
            provider_id,
            status=query.status,
            before=decode_cursor(query.cursor),
            limit=query.limit + 1,
        )
    items, cursor = page_items(rows, query.limit, booking_out, lambda b: (b.created_at, b.id))
    return json_response(BookingPage(items=items, next_cursor=cursor))


async def _answer(request: web.Request, target: Status) -> web.Response:
    principal = caller(request, "provider", "admin")
    provider_id = policy.provider_in_path(principal, request.match_info["provider_id"])
    booking_id = path_uuid(request, "booking_id", "booking")
    answered = target is not Status.CONFIRMED  # reject and cancel take a reason
    body = await parse_optional_body(request, Reason) if answered else Reason()
    by = "provider" if target is Status.CANCELLED else None
    leads = request.app[SETTINGS].booking_reminder_leads
    trace = request_trace(request)

    async def effect(conn: asyncpg.Connection) -> tuple[int, Any]:
        uow = PostgresUnitOfWork(conn)
        booking = await commands.load(uow, booking_id)
        policy.may_act_as_provider(principal, provider_id, booking)
        await commands.change_status(
            uow,
            booking,
            target,
            principal.sub,
            trace,
            reason=body.reason,
            by=by,
            reminder_leads=leads,
        )
        return await booking_response(conn, booking_id)

    return await run_idempotent(request, principal, effect)


@operation(
    "Accept a pending booking",
    response=BookingModel,
    idempotent=True,
    errors=(404, 409),
    links=links.AFTER_BOOKING,
)
async def accept_booking(request: web.Request) -> web.Response:
    return await _answer(request, Status.CONFIRMED)


@operation(
    "Reject a pending booking",
    body=Reason,
    response=BookingModel,
    idempotent=True,
    errors=(404, 409),
    links=links.AFTER_BOOKING,
)
async def reject_booking(request: web.Request) -> web.Response:
    return await _answer(request, Status.REJECTED)


@operation(
    "Cancel a pending or confirmed booking of one's slot, with a reason (the user is told)",
    body=Reason,
    response=BookingModel,
    idempotent=True,
    errors=(404, 409),
    links=links.AFTER_BOOKING,
)
async def cancel_booking(request: web.Request) -> web.Response:
    return await _answer(request, Status.CANCELLED)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/providers/{provider_id}/bookings", provider_bookings)
    app.router.add_post("/providers/{provider_id}/bookings/{booking_id}/accept", accept_booking)
    app.router.add_post("/providers/{provider_id}/bookings/{booking_id}/reject", reject_booking)
    app.router.add_post("/providers/{provider_id}/bookings/{booking_id}/cancel", cancel_booking)
