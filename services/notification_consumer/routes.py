"""HTTP read side: GET /users/{user_id}/notifications (the in-app channel)."""

from __future__ import annotations

from aiohttp import web

from services.notification_consumer import storage
from services.notification_consumer.models import (
    Notifications,
    NotificationsQuery,
    notification_out,
)
from shared.http.app import SETTINGS
from shared.http.auth import authenticate
from shared.http.lifecycle import DATABASE
from shared.http.openapi import operation
from shared.http.pagination import decode_cursor, page_items
from shared.http.validation import json_response, parse_query

READER_ROLES = ("user", "customer", "admin")


@operation(
    "Notifications of a user or customer, newest first (themselves or an admin)",
    query=NotificationsQuery,
    response=Notifications,
)
async def get_notifications(request: web.Request) -> web.Response:
    user_id = request.match_info["user_id"]
    # Notifications go to users and customers: a provider whose id equals a user's is not them.
    principal = authenticate(request, request.app[SETTINGS].jwt_secret, *READER_ROLES)
    principal.require_owner(user_id, "notifications")
    query = parse_query(request, NotificationsQuery)
    async with request.app[DATABASE].acquire() as conn:
        rows = await storage.notifications_of(
            conn, user_id, before=decode_cursor(query.cursor), limit=query.limit + 1
        )
    items, cursor = page_items(rows, query.limit, notification_out, lambda n: (n.created_at, n.id))
    return json_response(Notifications(user_id=user_id, items=items, next_cursor=cursor))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/users/{user_id}/notifications", get_notifications)
