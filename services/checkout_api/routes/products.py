"""The catalogue: list it, add to it (admin)."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from services.checkout_api import commands, models, storage
from services.checkout_api.models import NewProduct, PageQuery, Product, ProductPage
from services.checkout_api.routes import links
from services.checkout_api.routes.edge import auth, run_idempotent
from services.checkout_api.uow import PostgresUnitOfWork
from shared.http.app import request_trace
from shared.http.lifecycle import DATABASE
from shared.http.openapi import operation
from shared.http.validation import json_response, parse_body, parse_query


@operation("List the catalogue", query=PageQuery, response=ProductPage)
async def list_products(request: web.Request) -> web.Response:
    auth(request)
    page = parse_query(request, PageQuery)
    async with request.app[DATABASE].acquire() as conn:
        rows = await storage.products(conn, page.limit + 1, page.offset)
    items = [models.product(row) for row in rows[: page.limit]]
    next_offset = page.offset + page.limit if len(rows) > page.limit else None
    return json_response(ProductPage(items=items, next_offset=next_offset))


@operation(
    "Add a product to the catalogue (admin)",
    body=NewProduct,
    response=Product,
    status=201,
    idempotent=True,
    links=links.AFTER_PRODUCT,
)
async def create_product(request: web.Request) -> web.Response:
    principal = auth(request, "admin")
    body = await parse_body(request, NewProduct)

    async def effect(conn: asyncpg.Connection) -> tuple[int, object]:
        product_id = await commands.add_product(
            PostgresUnitOfWork(conn), body.name, body.price, principal.sub, request_trace(request)
        )
        return 201, Product(id=product_id, name=body.name, price=body.price).model_dump(mode="json")

    return await run_idempotent(request, principal, effect)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/products", list_products)
    app.router.add_post("/products", create_product)
