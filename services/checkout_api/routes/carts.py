"""The caller's cart: read it, add units of a product, remove a product."""

from __future__ import annotations

import uuid

import asyncpg
from aiohttp import web

from services.checkout_api import commands, models, storage
from services.checkout_api.models import Cart, CartItemIn
from services.checkout_api.routes import links
from services.checkout_api.routes.edge import auth, customer_or_404, me, run_idempotent
from services.checkout_api.uow import PostgresUnitOfWork
from shared.http.app import request_trace
from shared.http.lifecycle import DATABASE
from shared.http.openapi import operation
from shared.http.validation import json_response, parse_body, path_uuid


async def _cart(conn: asyncpg.Connection, customer_id: uuid.UUID) -> Cart:
    return models.cart(customer_id, await storage.cart_lines(conn, customer_id))


@operation("The caller's cart, priced from the catalogue", response=Cart, errors=(404,))
async def get_cart(request: web.Request) -> web.Response:
    customer_id = me(auth(request, "customer"))
    async with request.app[DATABASE].acquire() as conn:
        await customer_or_404(conn, customer_id)
        cart = await _cart(conn, customer_id)
    return json_response(cart)


@operation(
    "Add units of a product to the caller's cart",
    body=CartItemIn,
    response=Cart,
    idempotent=True,
    errors=(404,),
    links=links.AFTER_CART_ITEM,
)
async def add_cart_item(request: web.Request) -> web.Response:
    principal = auth(request, "customer")
    customer_id = me(principal)
    body = await parse_body(request, CartItemIn)

    async def effect(conn: asyncpg.Connection) -> tuple[int, object]:
        await commands.add_to_cart(
            PostgresUnitOfWork(conn),
            customer_id,
            body.product_id,
            body.quantity,
            request_trace(request),
        )
        return 200, (await _cart(conn, customer_id)).model_dump(mode="json")

    return await run_idempotent(request, principal, effect)


@operation("Remove a product from the caller's cart", response=Cart, errors=(404,))
async def remove_cart_item(request: web.Request) -> web.Response:
    customer_id = me(auth(request, "customer"))
    product_id = path_uuid(request, "product_id", "cart item")
    async with request.app[DATABASE].transaction() as conn:
        await commands.remove_from_cart(
            PostgresUnitOfWork(conn), customer_id, product_id, request_trace(request)
        )
        cart = await _cart(conn, customer_id)
    return json_response(cart)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/carts/me", get_cart)
    app.router.add_post("/carts/me/items", add_cart_item)
    app.router.add_delete("/carts/me/items/{product_id}", remove_cart_item)
