"""Transactions: one paid checkout with its reward status, and its refunds (admin)."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from services.checkout_api import models, refunds, storage
from services.checkout_api.models import (
    RefundIn,
    RefundOut,
    TransactionOut,
    TransactionPage,
    TransactionQuery,
)
from services.checkout_api.policy import may_read, may_see_transaction
from services.checkout_api.routes import links
from services.checkout_api.routes.edge import auth, me, run_idempotent
from services.checkout_api.uow import PostgresUnitOfWork
from shared.errors import NotFound, Problem
from shared.http.app import request_trace
from shared.http.lifecycle import DATABASE
from shared.http.openapi import operation
from shared.http.pagination import decode_cursor, page_items
from shared.http.validation import json_response, parse_optional_body, parse_query, path_uuid


@operation(
    "The caller's own transactions, newest first, with reward and refund status",
    query=TransactionQuery,
    response=TransactionPage,
)
async def list_transactions(request: web.Request) -> web.Response:
    principal = auth(request, "customer", "admin")
    query = parse_query(request, TransactionQuery)
    if principal.is_admin:
        if query.customer_id is None:
            raise Problem(422, "an admin must name the customer with ?customer_id=")
        customer_id = query.customer_id
    else:
        customer_id = me(principal)
        may_read(principal, query.customer_id or customer_id)
    async with request.app[DATABASE].acquire() as conn:
        rows = await storage.customer_transactions(
            conn, customer_id, decode_cursor(query.cursor), query.limit + 1
        )
    items, cursor = page_items(
        rows, query.limit, models.transaction_summary, lambda t: (t.created_at, t.id)
    )
    return json_response(TransactionPage(items=items, next_cursor=cursor))


@operation(
    "A transaction with its reward status",
    response=TransactionOut,
    errors=(404,),
    links=links.AFTER_TRANSACTION,
)
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


@operation(
    "Refund all or part of a checkout to the wallet (admin); Idempotency-Key is required. "
    "The tree points it paid are taken back in proportion, by the reward worker",
    body=RefundIn,
    response=RefundOut,
    status=201,
    idempotent="required",
    errors=(404, 409),
    links=links.AFTER_REFUND,
)
async def create_refund(request: web.Request) -> web.Response:
    principal = auth(request, "admin")
    transaction_id = path_uuid(request, "transaction_id", "transaction")
    body = await parse_optional_body(request, RefundIn)  # none (or {}): all that is left

    async def effect(conn: asyncpg.Connection) -> tuple[int, object]:
        done = await refunds.refund(
            PostgresUnitOfWork(conn),
            transaction_id,
            body.amount,
            body.reason,
            principal.sub,
            request_trace(request),
        )
        out = RefundOut(
            refund_id=done.refund_id,
            transaction_id=transaction_id,
            amount=done.amount,
            refunded=done.refunded,
            balance=done.balance,
            reversal="pending",
        )
        return 201, out.model_dump(mode="json")

    # A retry without a key would refund twice: money moves only under a key.
    return await run_idempotent(request, principal, effect, required=True)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/transactions", list_transactions)
    app.router.add_get("/transactions/{transaction_id}", get_transaction)
    app.router.add_post("/transactions/{transaction_id}/refunds", create_refund)
