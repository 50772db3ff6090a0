"""HTTP read side: GET /providers/{provider_id}/inbox."""

from __future__ import annotations

import uuid
from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, Field

from services.provider_consumer import storage
from shared.errors import Forbidden
from shared.http.app import SETTINGS
from shared.http.auth import authenticate
from shared.http.lifecycle import DATABASE
from shared.http.openapi import operation
from shared.http.validation import json_response, parse_query


class InboxQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=200)


class InboxItem(BaseModel):
    booking_id: uuid.UUID
    slot_id: uuid.UUID
    user_id: str
    starts_at: datetime
    ends_at: datetime
    notes: str | None
    expires_at: datetime | None
    requested_at: datetime


class Inbox(BaseModel):
    provider_id: str
    items: list[InboxItem]


@operation(
    "Pending booking requests of a provider (the provider or an admin)",
    query=InboxQuery,
    response=Inbox,
)
async def get_inbox(request: web.Request) -> web.Response:
    provider_id = request.match_info["provider_id"]
    principal = authenticate(request, request.app[SETTINGS].jwt_secret, "provider", "admin")
    if principal.role != "admin" and principal.sub != provider_id:
        raise Forbidden("a provider sees only their own inbox")
    query = parse_query(request, InboxQuery)
    async with request.app[DATABASE].acquire() as conn:
        rows = await storage.pending_requests(conn, provider_id, query.limit)
    items = [InboxItem.model_validate(dict(row)) for row in rows]
    return json_response(Inbox(provider_id=provider_id, items=items))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/providers/{provider_id}/inbox", get_inbox)
