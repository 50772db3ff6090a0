"""Slot routes: open slots, and a provider's calendar (publish, withdraw)."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from services.booking_api import commands, policy, storage
from services.booking_api.models import (
    NewSlot,
    Slot,
    SlotPage,
    SlotQuery,
    dump,
    slot_out,
)
from services.booking_api.routes import links
from services.booking_api.routes.common import caller, run_idempotent
from services.booking_api.uow import PostgresUnitOfWork
from shared.http.app import request_trace
from shared.http.lifecycle import DATABASE
from shared.http.openapi import operation
from shared.http.pagination import decode_cursor, page_items
from shared.http.validation import json_response, parse_body, parse_query, path_uuid


@operation(
    "Open slots, soonest first",
    query=SlotQuery,
    response=SlotPage,
    links=links.AFTER_SLOT_PAGE,
)
async def available_slots(request: web.Request) -> web.Response:
    caller(request)
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
    "Publish a slot (409, naming the slot in the way, when it overlaps one of the provider's)",
    body=NewSlot,
    response=Slot,
    status=201,
    idempotent=True,
    errors=(409,),
    links=links.AFTER_SLOT,
)
async def create_slot(request: web.Request) -> web.Response:
    principal = caller(request, "provider", "admin")
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
            time_zone=body.time_zone,
        )
        return 201, dump(slot_out(await storage.get_slot(conn, slot_id)))

    return await run_idempotent(request, principal, effect)


@operation("Withdraw an open slot (a held or booked one: 409)", status=204, errors=(404, 409))
async def withdraw_slot(request: web.Request) -> web.Response:
    principal = caller(request, "provider", "admin")
    provider_id = policy.provider_in_path(principal, request.match_info["provider_id"])
    slot_id = path_uuid(request, "slot_id", "slot")
    trace = request_trace(request)
    async with request.app[DATABASE].transaction() as conn:
        await commands.withdraw_slot(
            PostgresUnitOfWork(conn), provider_id, slot_id, principal.sub, trace
        )
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/available-slots", available_slots)
    app.router.add_post("/providers/{provider_id}/slots", create_slot)
    app.router.add_delete("/providers/{provider_id}/slots/{slot_id}", withdraw_slot)
