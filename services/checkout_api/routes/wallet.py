"""Wallets: a balance with its entries, and top-ups (admin)."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from services.checkout_api import commands
from services.checkout_api.models import TopUpIn, TopUpOut, Wallet, WalletQuery
from services.checkout_api.policy import may_read
from services.checkout_api.routes import links
from services.checkout_api.routes.edge import auth, customer_or_404, me, run_idempotent
from services.checkout_api.statements import statement
from services.checkout_api.uow import PostgresUnitOfWork
from shared.errors import Problem
from shared.http.app import request_trace
from shared.http.lifecycle import DATABASE
from shared.http.openapi import operation
from shared.http.validation import json_response, parse_body, parse_query
from shared.storage import ledger


@operation(
    "Balance and entries of a wallet, newest first, each with its counter-account",
    query=WalletQuery,
    response=Wallet,
    errors=(404,),
)
async def get_wallet(request: web.Request) -> web.Response:
    principal = auth(request, "customer", "admin")
    query = parse_query(request, WalletQuery)
    if principal.is_admin:
        if query.customer_id is None:
            raise Problem(422, "an admin must name the wallet with ?customer_id=")
        customer_id = query.customer_id
    else:
        customer_id = me(principal)
        may_read(principal, query.customer_id or customer_id)
    async with request.app[DATABASE].transaction(isolation="repeatable_read") as conn:
        await customer_or_404(conn, customer_id)
        page = await statement(conn, ledger.WALLET, str(customer_id), query)
    return json_response(
        Wallet(
            customer_id=customer_id,
            balance=page.balance,
            entries=page.entries,
            next_cursor=page.next_cursor,
            next_before=page.next_before,
        )
    )


@operation(
    "Credit a customer's wallet (admin); Idempotency-Key is required",
    body=TopUpIn,
    response=TopUpOut,
    status=201,
    idempotent="required",
    errors=(404,),
    links=links.AFTER_TOP_UP,
)
async def create_top_up(request: web.Request) -> web.Response:
    principal = auth(request, "admin")
    body = await parse_body(request, TopUpIn)

    async def effect(conn: asyncpg.Connection) -> tuple[int, object]:
        top_up_id, balance = await commands.top_up(
            PostgresUnitOfWork(conn),
            body.customer_id,
            body.amount,
            principal.sub,
            request_trace(request),
        )
        out = TopUpOut(
            top_up_id=top_up_id, customer_id=body.customer_id, amount=body.amount, balance=balance
        )
        return 201, out.model_dump(mode="json")

    # A retry without a key would credit twice: money moves only under a key.
    return await run_idempotent(request, principal, effect, required=True)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/wallet", get_wallet)
    app.router.add_post("/wallet/top-ups", create_top_up)
