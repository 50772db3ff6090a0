"""Checkout: pay the cart, or the given items, from the wallet."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from services.checkout_api import commands
from services.checkout_api.models import CheckoutIn, CheckoutOut
from services.checkout_api.routes import links
from services.checkout_api.routes.edge import auth, me, run_idempotent
from services.checkout_api.uow import PostgresUnitOfWork
from shared.http.app import request_trace
from shared.http.openapi import operation
from shared.http.validation import parse_optional_body


@operation(
    "Pay the cart (or the given items) from the wallet; Idempotency-Key is required",
    body=CheckoutIn,
    response=CheckoutOut,
    status=201,
    idempotent="required",
    errors=(402, 404, 409),
    links=links.AFTER_CHECKOUT,
)
async def checkout(request: web.Request) -> web.Response:
    principal = auth(request, "customer")
    customer_id = me(principal)
    body = await parse_optional_body(request, CheckoutIn)  # none (or {}): the cart
    items = None if body.items is None else [(i.product_id, i.quantity) for i in body.items]

    async def effect(conn: asyncpg.Connection) -> tuple[int, object]:
        transaction_id, total, balance = await commands.checkout(
            PostgresUnitOfWork(conn), customer_id, items, request_trace(request)
        )
        out = CheckoutOut(
            transaction_id=transaction_id, total=total, balance=balance, rewards="pending"
        )
        return 201, out.model_dump(mode="json")

    return await run_idempotent(request, principal, effect, required=True)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/checkout", checkout)
