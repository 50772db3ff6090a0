"""HTTP read side: GET /users/{user_id}/notifications (the in-app channel)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from services.notification_consumer import storage
from shared.errors import Forbidden
from shared.http.app import SETTINGS
from shared.http.auth import authenticate
from shared.http.lifecycle import DATABASE
from shared.http.openapi import operation
from shared.http.validation import json_response, parse_query


class NotificationsQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=200)


class Notification(BaseModel):
    id: uuid.UUID
    kind: str
    subject: str
    body: str
    data: dict[str, Any]
    created_at: datetime
    channels: dict[str, str] = Field(description="delivery state per channel besides in-app")


class Notifications(BaseModel):
    user_id: str
    items: list[Notification]


READER_ROLES = ("user", "customer", "admin")


@operation(
    "Notifications of a user or customer (themselves or an admin)",
    query=NotificationsQuery,
    response=Notifications,
)
async def get_notifications(request: web.Request) -> web.Response:
    user_id = request.match_info["user_id"]
    # Notifications go to users and customers: a provider whose id equals a user's is not them.
    principal = authenticate(request, request.app[SETTINGS].jwt_secret, *READER_ROLES)
    if principal.role != "admin" and principal.sub != user_id:
        raise Forbidden("only the recipient or an admin may read these notifications")
    query = parse_query(request, NotificationsQuery)
    async with request.app[DATABASE].acquire() as conn:
        rows = await storage.notifications_of(conn, user_id, query.limit)
    items = [
        Notification.model_validate(
            {**dict(row), "data": json.loads(row["data"]), "channels": json.loads(row["channels"])}
        )
        for row in rows
    ]
    return json_response(Notifications(user_id=user_id, items=items))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/users/{user_id}/notifications", get_notifications)
