"""Transactions: one paid checkout with its reward status."""

from __future__ import annotations

from aiohttp import web

from services.checkout_api import models, storage
from services.checkout_api.models import TransactionOut
from services.checkout_api.policy import may_see_transaction
from services.checkout_api.routes.edge import auth
from shared.errors import NotFound
from shared.http.lifecycle import DATABASE
from shared.http.openapi import operation
from shared.http.validation import json_response, path_uuid


@operation("A transaction with its reward status", response=TransactionOut, errors=(404,))
async def get_transaction(request: web.Request) -> web.Response:
    principal = auth(request, "customer", "admin")
    transaction_id = path_uuid(request, "transaction_id", "transaction")
    async with request.app[DATABASE].acquire() as conn:
        found = await storage.transaction(conn, transaction_id)
    if found is None:
        raise NotFound("transaction", transaction_id)
    row, lines = found
    may_see_transaction(principal, transaction_id, str(row["customer_id"]))
    return json_response(models.transaction(row, lines))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/transactions/{transaction_id}", get_transaction)
