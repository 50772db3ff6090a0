"""Customers: register (admin), read one, read their tree points and level."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from services.checkout_api import commands, models
from services.checkout_api.models import Customer, EntriesQuery, NewCustomer, Rewards
from services.checkout_api.policy import may_read
from services.checkout_api.routes import links
from services.checkout_api.routes.edge import auth, customer_or_404, run_idempotent
from services.checkout_api.statements import statement
from services.checkout_api.uow import PostgresUnitOfWork
from shared.http.app import request_trace
from shared.http.lifecycle import DATABASE
from shared.http.openapi import operation
from shared.http.validation import json_response, parse_body, parse_query, path_uuid
from shared.storage import ledger


@operation(
    "Register a customer, optionally referred by an existing one (admin)",
    body=NewCustomer,
    response=Customer,
    status=201,
    idempotent=True,
    links=links.AFTER_CUSTOMER,
)
async def create_customer(request: web.Request) -> web.Response:
    principal = auth(request, "admin")
    body = await parse_body(request, NewCustomer)

    async def effect(conn: asyncpg.Connection) -> tuple[int, object]:
        customer_id = await commands.register_customer(
            PostgresUnitOfWork(conn),
            body.name,
            body.referrer_id,
            body.tier,
            principal.sub,
            request_trace(request),
        )
        row = await customer_or_404(conn, customer_id)
        return 201, models.customer(row).model_dump(mode="json")

    return await run_idempotent(request, principal, effect)


@operation("A customer", response=Customer, errors=(404,))
async def get_customer(request: web.Request) -> web.Response:
    principal = auth(request, "customer", "admin")
    customer_id = path_uuid(request, "customer_id", "customer")
    may_read(principal, customer_id)
    async with request.app[DATABASE].acquire() as conn:
        row = await customer_or_404(conn, customer_id)
    return json_response(models.customer(row))


@operation(
    "Tree points, level and reward entries of a customer",
    query=EntriesQuery,
    response=Rewards,
    errors=(404,),
)
async def get_rewards(request: web.Request) -> web.Response:
    principal = auth(request, "customer", "admin")
    customer_id = path_uuid(request, "customer_id", "customer")
    may_read(principal, customer_id)
    query = parse_query(request, EntriesQuery)
    async with request.app[DATABASE].transaction(isolation="repeatable_read") as conn:
        row = await customer_or_404(conn, customer_id)
        page = await statement(conn, ledger.POINTS, str(customer_id), query)
    return json_response(
        Rewards(
            customer_id=customer_id,
            points=page.balance,
            level=row["level"],
            entries=page.entries,
            next_cursor=page.next_cursor,
            next_before=page.next_before,
        )
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/customers", create_customer)
    app.router.add_get("/customers/{customer_id}", get_customer)
    app.router.add_get("/customers/{customer_id}/rewards", get_rewards)
