"""HTTP read side: GET /providers/{provider_id}/inbox."""

from __future__ import annotations

from aiohttp import web

from services.provider_consumer import storage
from services.provider_consumer.models import Inbox, InboxQuery, inbox_item_out
from shared.http.app import SETTINGS
from shared.http.auth import authenticate
from shared.http.lifecycle import DATABASE
from shared.http.openapi import operation
from shared.http.pagination import decode_cursor, page_items
from shared.http.validation import json_response, parse_query


@operation(
    "Pending booking requests of a provider, soonest first (the provider or an admin)",
    query=InboxQuery,
    response=Inbox,
)
async def get_inbox(request: web.Request) -> web.Response:
    provider_id = request.match_info["provider_id"]
    principal = authenticate(request, request.app[SETTINGS].jwt_secret, "provider", "admin")
    principal.require_owner(provider_id, "inbox")
    query = parse_query(request, InboxQuery)
    async with request.app[DATABASE].acquire() as conn:
        rows = await storage.pending_requests(
            conn, provider_id, after=decode_cursor(query.cursor), limit=query.limit + 1
        )
    items, cursor = page_items(
        rows, query.limit, inbox_item_out, lambda item: (item.starts_at, item.booking_id)
    )
    return json_response(Inbox(provider_id=provider_id, items=items, next_cursor=cursor))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/providers/{provider_id}/inbox", get_inbox)
