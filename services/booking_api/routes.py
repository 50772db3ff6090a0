"""HTTP handlers of booking_api: authenticate, validate, run one command or query."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from aiohttp import web

from services.booking_api import commands, policy, storage
from services.booking_api.domain import STATUS_OF, Booking, Status
from services.booking_api.models import Booking as BookingModel
from services.booking_api.models import (
    BookingPage,
    BookingQuery,
    History,
    HistoryEntry,
    NewBooking,
    NewSlot,
    Reason,
    Slot,
    SlotPage,
    SlotQuery,
    booking_out,
    decode_cursor,
    dump,
    page_items,
    slot_out,
)
from services.booking_api.typedefs import SCHEMA
from services.booking_api.uow import PostgresUnitOfWork
from shared.errors import NotFound
from shared.http.app import SETTINGS, request_trace
from shared.http.auth import Principal, authenticate
from shared.http.idempotency import Effect, idempotent
from shared.http.lifecycle import DATABASE
from shared.http.openapi import operation
from shared.http.validation import (
    json_response,
    parse_body,
    parse_optional_body,
    parse_query,
    path_uuid,
)
from shared.storage.eventstore import read_stream

ANY_ROLE = ("user", "provider", "admin")


def _caller(request: web.Request, *roles: str) -> Principal:
    return authenticate(request, request.app[SETTINGS].jwt_secret, *(roles or ANY_ROLE))


async def _idempotent(request: web.Request, principal: Principal, effect: Effect) -> web.Response:
    settings = request.app[SETTINGS]
    return await idempotent(
        request, request.app[DATABASE], SCHEMA, principal.sub, effect, ttl=settings.idempotency_ttl
    )


async def _booking_response(conn: asyncpg.Connection, booking_id: uuid.UUID) -> tuple[int, Any]:
    return 200, dump(booking_out(await storage.get_booking(conn, booking_id)))


@operation("Open slots, soonest first", query=SlotQuery, response=SlotPage)
async def available_slots(request: web.Request) -> web.Response:
    _caller(request)
    query = parse_query(request, SlotQuery)
    async with request.app[DATABASE].acquire() as conn:
        rows = await storage.open_slots(
            conn,
            provider_id=query.provider_id,
            starts_from=query.starts_from,
            starts_before=query.starts_before,
            after=decode_cursor(query.cursor),
            limit=query.limit + 1,
        )
    items, cursor = page_items(rows, query.limit, slot_out, lambda s: (s.starts_at, s.id))
    return json_response(SlotPage(items=items, next_cursor=cursor))


@operation(
    "Publish a slot", body=NewSlot, response=Slot, status=201, idempotent=True, errors=(409,)
)
async def create_slot(request: web.Request) -> web.Response:
    principal = _caller(request, "provider", "admin")
    provider_id = policy.provider_in_path(principal, request.match_info["provider_id"])
    body = await parse_body(request, NewSlot)
    trace = request_trace(request)

    async def effect(conn: asyncpg.Connection) -> tuple[int, Any]:
        slot_id = await commands.create_slot(
            PostgresUnitOfWork(conn),
            provider_id,
            body.starts_at,
            body.ends_at,
            principal.sub,
            trace,
        )
        return 201, dump(slot_out(await storage.get_slot(conn, slot_id)))

    return await _idempotent(request, principal, effect)


@operation(
    "Book an open slot (pending until the provider answers)",
    body=NewBooking,
    response=BookingModel,
    status=201,
    idempotent=True,
    errors=(404, 409),
)
async def create_booking(request: web.Request) -> web.Response:
    principal = _caller(request, "user", "admin")
    body = await parse_body(request, NewBooking)
    ttl = request.app[SETTINGS].booking_pending_ttl
    trace = request_trace(request)

    async def effect(conn: asyncpg.Connection) -> tuple[int, Any]:
        uow = PostgresUnitOfWork(conn)
        booking_id = await commands.book(uow, body.slot_id, principal.sub, body.notes, ttl, trace)
        return 201, dump(booking_out(await storage.get_booking(conn, booking_id)))

    return await _idempotent(request, principal, effect)


async def _visible_booking(
    conn: asyncpg.Connection, principal: Principal, booking_id: uuid.UUID
) -> asyncpg.Record:
    """The booking, if it exists (404) and the caller may see it (403)."""
    row = await storage.find_booking(conn, booking_id)
    if row is None:
        raise NotFound("booking", booking_id)
    policy.may_see(principal, Booking.from_row(row))
    return row


@operation("A booking", response=BookingModel, errors=(404,))
async def get_booking(request: web.Request) -> web.Response:
    principal = _caller(request)
    booking_id = path_uuid(request, "booking_id", "booking")
    async with request.app[DATABASE].acquire() as conn:
        row = await _visible_booking(conn, principal, booking_id)
    return json_response(booking_out(row))


@operation("Status history of a booking, from its events", response=History, errors=(404,))
async def booking_history(request: web.Request) -> web.Response:
    principal = _caller(request)
    booking_id = path_uuid(request, "booking_id", "booking")
    async with request.app[DATABASE].acquire() as conn:
        await _visible_booking(conn, principal, booking_id)
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
    "Cancel one's booking", body=Reason, response=BookingModel, idempotent=True, errors=(404, 409)
)
async def cancel_booking(request: web.Request) -> web.Response:
    principal = _caller(request, "user", "admin")
    booking_id = path_uuid(request, "booking_id", "booking")
    body = await parse_optional_body(request, Reason)
    trace = request_trace(request)

    async def effect(conn: asyncpg.Connection) -> tuple[int, Any]:
        uow = PostgresUnitOfWork(conn)
        booking = await commands.load(uow, booking_id)
        policy.may_cancel_as_user(principal, booking)
        await commands.change_status(
            uow, booking, Status.CANCELLED, principal.sub, trace, reason=body.reason
        )
        return await _booking_response(conn, booking_id)

    return await _idempotent(request, principal, effect)


@operation("A provider's bookings, newest first", query=BookingQuery, response=BookingPage)
async def provider_bookings(request: web.Request) -> web.Response:
    principal = _caller(request, "provider", "admin")
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
    principal = _caller(request, "provider", "admin")
    provider_id = policy.provider_in_path(principal, request.match_info["provider_id"])
    booking_id = path_uuid(request, "booking_id", "booking")
    body = await parse_optional_body(request, Reason) if target is Status.REJECTED else Reason()
    trace = request_trace(request)

    async def effect(conn: asyncpg.Connection) -> tuple[int, Any]:
        uow = PostgresUnitOfWork(conn)
        booking = await commands.load(uow, booking_id)
        policy.may_act_as_provider(principal, provider_id, booking)
        await commands.change_status(uow, booking, target, principal.sub, trace, reason=body.reason)
        return await _booking_response(conn, booking_id)

    return await _idempotent(request, principal, effect)


@operation("Accept a pending booking", response=BookingModel, idempotent=True, errors=(404, 409))
async def accept_booking(request: web.Request) -> web.Response:
    return await _answer(request, Status.CONFIRMED)


@operation(
    "Reject a pending booking",
    body=Reason,
    response=BookingModel,
    idempotent=True,
    errors=(404, 409),
)
async def reject_booking(request: web.Request) -> web.Response:
    return await _answer(request, Status.REJECTED)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/available-slots", available_slots)
    app.router.add_post("/providers/{provider_id}/slots", create_slot)
    app.router.add_get("/providers/{provider_id}/bookings", provider_bookings)
    app.router.add_post("/providers/{provider_id}/bookings/{booking_id}/accept", accept_booking)
    app.router.add_post("/providers/{provider_id}/bookings/{booking_id}/reject", reject_booking)
    app.router.add_post("/bookings", create_booking)
    app.router.add_get("/bookings/{booking_id}", get_booking)
    app.router.add_get("/bookings/{booking_id}/history", booking_history)
    app.router.add_post("/bookings/{booking_id}/cancel", cancel_booking)
