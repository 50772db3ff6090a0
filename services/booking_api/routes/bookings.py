"""A user's booking routes: book, list one's own, read, history, cancel, reschedule."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from services.booking_api import commands, policy, storage
from services.booking_api.domain import STATUS_OF, Status
from services.booking_api.models import Booking as BookingModel
from services.booking_api.models import (
    BookingPage,
    BookingQuery,
    History,
    HistoryEntry,
    Move,
    NewBooking,
    Reason,
    booking_out,
    dump,
)
from services.booking_api.routes import links
from services.booking_api.routes.common import (
    booking_response,
    caller,
    run_idempotent,
    visible_booking,
)
from services.booking_api.typedefs import SCHEMA
from services.booking_api.uow import PostgresUnitOfWork
from shared.http.app import SETTINGS, request_trace
from shared.http.lifecycle import DATABASE
from shared.http.openapi import operation
from shared.http.pagination import decode_cursor, page_items
from shared.http.validation import (
    json_response,
    parse_body,
    parse_optional_body,
    parse_query,
    path_uuid,
)
from shared.storage.eventstore import read_stream


@operation(
    "Book an open slot (pending until the provider answers)",
    body=NewBooking,
    response=BookingModel,
    status=201,
    idempotent=True,
    errors=(404, 409),
    links=links.AFTER_BOOKING,
)
async def create_booking(request: web.Request) -> web.Response:
    principal = caller(request, "user", "admin")
    body = await parse_body(request, NewBooking)
    ttl = request.app[SETTINGS].booking_pending_ttl
    trace = request_trace(request)

    async def effect(conn: asyncpg.Connection) -> tuple[int, Any]:
        uow = PostgresUnitOfWork(conn)
        booking_id = await commands.book(uow, body.slot_id, principal.sub, body.notes, ttl, trace)
        return 201, dump(booking_out(await storage.get_booking(conn, booking_id)))

    return await run_idempotent(request, principal, effect)


@operation(
    "The caller's own bookings, newest first",
    query=BookingQuery,
    response=BookingPage,
    links=links.AFTER_BOOKING_PAGE,
)
async def my_bookings(request: web.Request) -> web.Response:
    principal = caller(request, "user", "admin")
    query = parse_query(request, BookingQuery)
    async with request.app[DATABASE].acquire() as conn:
        rows = await storage.user_bookings(
            conn,
            principal.sub,
            status=query.status,
            before=decode_cursor(query.cursor),
            limit=query.limit + 1,
        )
    items, cursor = page_items(rows, query.limit, booking_out, lambda b: (b.created_at, b.id))
    return json_response(BookingPage(items=items, next_cursor=cursor))


@operation("A booking", response=BookingModel, errors=(404,))
async def get_booking(request: web.Request) -> web.Response:
    principal = caller(request)
    booking_id = path_uuid(request, "booking_id", "booking")
    async with request.app[DATABASE].acquire() as conn:
        row = await visible_booking(conn, principal, booking_id)
    return json_response(booking_out(row))


@operation("Status history of a booking, from its events", response=History, errors=(404,))
async def booking_history(request: web.Request) -> web.Response:
    principal = caller(request)
    booking_id = path_uuid(request, "booking_id", "booking")
    async with request.app[DATABASE].acquire() as conn:
        await visible_booking(conn, principal, booking_id)
        events = await read_stream(conn, SCHEMA, commands.booking_stream(booking_id))
    entries = [
        HistoryEntry(
            event_id=event.envelope.id,
            event_type=event.envelope.type,
            status=STATUS_OF[event.envelope.type],
            at=event.envelope.time,
            actor=event.actor,
            reason=event.envelope.data.get("reason"),
        )
        for event in events
    ]
    return json_response(History(booking_id=booking_id, entries=entries))


@operation(
    "Cancel one's booking",
    body=Reason,
    response=BookingModel,
    idempotent=True,
    errors=(404, 409),
    links=links.AFTER_BOOKING,
)
async def cancel_booking(request: web.Request) -> web.Response:
    principal = caller(request, "user", "admin")
    booking_id = path_uuid(request, "booking_id", "booking")
    body = await parse_optional_body(request, Reason)
    trace = request_trace(request)

    async def effect(conn: asyncpg.Connection) -> tuple[int, Any]:
        uow = PostgresUnitOfWork(conn)
        booking = await commands.load(uow, booking_id)
        policy.may_change_as_user(principal, booking)
        await commands.change_status(
            uow, booking, Status.CANCELLED, principal.sub, trace, reason=body.reason, by="user"
        )
        return await booking_response(conn, booking_id)

    return await run_idempotent(request, principal, effect)


@operation(
    "Move one's pending or confirmed booking to another open slot of the same provider "
    "(pending again until the provider accepts)",
    body=Move,
    response=BookingModel,
    idempotent=True,
    errors=(404, 409),
    links=links.AFTER_BOOKING,
)
async def reschedule_booking(request: web.Request) -> web.Response:
    principal = caller(request, "user", "admin")
    booking_id = path_uuid(request, "booking_id", "booking")
    body = await parse_body(request, Move)
    ttl = request.app[SETTINGS].booking_pending_ttl
    trace = request_trace(request)

    async def effect(conn: asyncpg.Connection) -> tuple[int, Any]:
        uow = PostgresUnitOfWork(conn)
        booking = await commands.load(uow, booking_id)
        policy.may_change_as_user(principal, booking)
        await commands.reschedule(uow, booking, body.slot_id, principal.sub, ttl, trace)
        return await booking_response(conn, booking_id)

    return await run_idempotent(request, principal, effect)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/bookings", create_booking)
    app.router.add_get("/bookings", my_bookings)
    app.router.add_get("/bookings/{booking_id}", get_booking)
    app.router.add_get("/bookings/{booking_id}/history", booking_history)
    app.router.add_post("/bookings/{booking_id}/cancel", cancel_booking)
    app.router.add_post("/bookings/{booking_id}/reschedule", reschedule_booking)
