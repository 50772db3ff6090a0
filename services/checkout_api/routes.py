"""HTTP edge of checkout_api: authenticate, validate, run one command or query, answer."""

from __future__ import annotations

import uuid

import asyncpg
from aiohttp import web

from services.checkout_api import commands, storage
from services.checkout_api.models import (
    Cart,
    CartItemIn,
    CartLine,
    CheckoutIn,
    CheckoutOut,
    Customer,
    LedgerEntry,
    NewCustomer,
    NewProduct,
    PageQuery,
    Product,
    ProductPage,
    Rewards,
    RewardsQuery,
    TopUpIn,
    TopUpOut,
    TransactionOut,
    Wallet,
    WalletQuery,
)
from services.checkout_api.storage import SCHEMA
from shared.errors import Forbidden, NotFound, Problem
from shared.http.app import SETTINGS
from shared.http.auth import Principal, authenticate
from shared.http.idempotency import Effect, idempotent
from shared.http.lifecycle import DATABASE
from shared.http.openapi import operation
from shared.http.validation import json_response, parse_body, parse_query, path_uuid, read_json
from shared.storage import ledger

routes = web.RouteTableDef()


def _auth(request: web.Request, *roles: str) -> Principal:
    return authenticate(request, request.app[SETTINGS].jwt_secret, *roles)


def _me(principal: Principal) -> uuid.UUID:
    """The customer acting; a token whose subject cannot be a customer names no one."""
    customer_id = storage.as_uuid(principal.sub)
    if customer_id is None:
        raise NotFound("customer", principal.sub)
    return customer_id


def _may_read(principal: Principal, customer_id: uuid.UUID) -> None:
    if principal.role != "admin" and principal.sub != str(customer_id):
        raise Forbidden("a customer may only read their own data")


async def _idempotent(
    request: web.Request, principal: Principal, effect: Effect, *, required: bool = False
) -> web.Response:
    settings = request.app[SETTINGS]
    return await idempotent(
        request,
        request.app[DATABASE],
        SCHEMA,
        f"{principal.role}:{principal.sub}",
        effect,
        ttl=settings.idempotency_ttl,
        required=required,
    )


@routes.get("/products")
@operation("List the catalogue", query=PageQuery, response=ProductPage)
async def list_products(request: web.Request) -> web.Response:
    _auth(request)
    page = parse_query(request, PageQuery)
    async with request.app[DATABASE].acquire() as conn:
        rows = await storage.products(conn, page.limit + 1, page.offset)
    items = [Product(id=r["id"], name=r["name"], price=r["price"]) for r in rows[: page.limit]]
    next_offset = page.offset + page.limit if len(rows) > page.limit else None
    return json_response(ProductPage(items=items, next_offset=next_offset))


@routes.post("/products")
@operation(
    "Add a product to the catalogue (admin)",
    body=NewProduct,
    response=Product,
    status=201,
    idempotent=True,
)
async def create_product(request: web.Request) -> web.Response:
    principal = _auth(request, "admin")
    body = await parse_body(request, NewProduct)

    async def effect(conn: asyncpg.Connection) -> tuple[int, object]:
        product_id = await commands.add_product(conn, body.name, body.price, principal.sub)
        return 201, Product(id=product_id, name=body.name, price=body.price).model_dump(mode="json")

    return await _idempotent(request, principal, effect)


async def _cart(conn: asyncpg.Connection, customer_id: uuid.UUID) -> Cart:
    lines = await storage.cart_lines(conn, customer_id)
    items = [CartLine(**storage.line_dict(line)) for line in lines]
    return Cart(customer_id=customer_id, items=items, total=sum(i.amount for i in items))


@routes.get("/carts/me")
@operation("The caller's cart, priced from the catalogue", response=Cart, errors=(404,))
async def get_cart(request: web.Request) -> web.Response:
    customer_id = _me(_auth(request, "customer"))
    async with request.app[DATABASE].acquire() as conn:
        await commands.require_customer(conn, customer_id)
        cart = await _cart(conn, customer_id)
    return json_response(cart)


@routes.post("/carts/me/items")
@operation(
    "Add units of a product to the caller's cart",
    body=CartItemIn,
    response=Cart,
    idempotent=True,
    errors=(404,),
)
async def add_cart_item(request: web.Request) -> web.Response:
    principal = _auth(request, "customer")
    customer_id = _me(principal)
    body = await parse_body(request, CartItemIn)

    async def effect(conn: asyncpg.Connection) -> tuple[int, object]:
        await commands.add_to_cart(conn, customer_id, body.product_id, body.quantity)
        return 200, (await _cart(conn, customer_id)).model_dump(mode="json")

    return await _idempotent(request, principal, effect)


@routes.delete("/carts/me/items/{product_id}")
@operation("Remove a product from the caller's cart", response=Cart, errors=(404,))
async def remove_cart_item(request: web.Request) -> web.Response:
    customer_id = _me(_auth(request, "customer"))
    product_id = path_uuid(request, "product_id", "cart item")
    async with request.app[DATABASE].transaction() as conn:
        await commands.require_customer(conn, customer_id)
        if not await storage.remove_cart_item(conn, customer_id, product_id):
            raise NotFound("cart item", product_id)
        cart = await _cart(conn, customer_id)
    return json_response(cart)


async def _checkout_body(request: web.Request) -> CheckoutIn:
    """The body is optional: none (or {}) checks out the cart."""
    if not await request.read():
        return CheckoutIn()
    data = await read_json(request)
    if not isinstance(data, dict):
        raise Problem(422, "the request body must be a JSON object")
    return CheckoutIn.model_validate(data)


@routes.post("/checkout")
@operation(
    "Pay the cart (or the given items) from the wallet; Idempotency-Key is required",
    body=CheckoutIn,
    response=CheckoutOut,
    status=201,
    idempotent="required",
    errors=(402, 404, 409),
)
async def checkout(request: web.Request) -> web.Response:
    principal = _auth(request, "customer")
    customer_id = _me(principal)
    body = await _checkout_body(request)

    async def effect(conn: asyncpg.Connection) -> tuple[int, object]:
        transaction_id, total, balance = await commands.checkout(conn, customer_id, body.items)
        out = CheckoutOut(
            transaction_id=transaction_id, total=total, balance=balance, rewards="pending"
        )
        return 201, out.model_dump(mode="json")

    return await _idempotent(request, principal, effect, required=True)


def _entries(rows: list[ledger.Entry], limit: int) -> tuple[list[LedgerEntry], int | None]:
    page = [
        LedgerEntry(
            id=e.id,
            amount=e.amount,
            kind=e.kind,
            reference=e.reference,
            details=e.details,
            created_at=e.created_at,
        )
        for e in rows[:limit]
    ]
    return page, (page[-1].id if len(rows) > limit else None)


@routes.get("/wallet")
@operation(
    "Balance and recent entries of a wallet, newest first", query=WalletQuery, response=Wallet
)
async def get_wallet(request: web.Request) -> web.Response:
    principal = _auth(request, "customer", "admin")
    query = parse_query(request, WalletQuery)
    if principal.role == "admin":
        if query.customer_id is None:
            raise Problem(422, "an admin must name the wallet with ?customer_id=")
        customer_id = query.customer_id
    else:
        customer_id = _me(principal)
        _may_read(principal, query.customer_id or customer_id)
    owner = str(customer_id)
    async with request.app[DATABASE].transaction(isolation="repeatable_read") as conn:
        await commands.require_customer(conn, customer_id)
        balance = await ledger.balance(conn, SCHEMA, ledger.WALLET, owner)
        rows = await ledger.entries(
            conn, SCHEMA, ledger.WALLET, owner, limit=query.limit + 1, before_id=query.before
        )
    entries, next_before = _entries(rows, query.limit)
    return json_response(
        Wallet(customer_id=customer_id, balance=balance, entries=entries, next_before=next_before)
    )


@routes.post("/wallet/top-ups")
@operation(
    "Credit a customer's wallet (admin)",
    body=TopUpIn,
    response=TopUpOut,
    status=201,
    idempotent=True,
    errors=(404,),
)
async def create_top_up(request: web.Request) -> web.Response:
    principal = _auth(request, "admin")
    body = await parse_body(request, TopUpIn)

    async def effect(conn: asyncpg.Connection) -> tuple[int, object]:
        top_up_id, balance = await commands.top_up(
            conn, body.customer_id, body.amount, principal.sub
        )
        out = TopUpOut(
            top_up_id=top_up_id, customer_id=body.customer_id, amount=body.amount, balance=balance
        )
        return 201, out.model_dump(mode="json")

    return await _idempotent(request, principal, effect)


@routes.get("/transactions/{transaction_id}")
@operation("A transaction with its reward status", response=TransactionOut, errors=(404,))
async def get_transaction(request: web.Request) -> web.Response:
    principal = _auth(request, "customer", "admin")
    transaction_id = path_uuid(request, "transaction_id", "transaction")
    async with request.app[DATABASE].acquire() as conn:
        found = await storage.transaction(conn, transaction_id)
    if found is None:
        raise NotFound("transaction", transaction_id)
    row, lines = found
    if principal.role != "admin" and principal.sub != str(row["customer_id"]):
        raise NotFound("transaction", transaction_id)  # do not reveal others' transactions
    out = TransactionOut(
        id=row["id"],
        customer_id=row["customer_id"],
        total=row["total"],
        balance_after=row["balance_after"],
        items=[CartLine(**storage.line_dict(line)) for line in lines],
        rewards=row["rewards_status"],
        rewards_done_at=row["rewards_done_at"],
        created_at=row["created_at"],
    )
    return json_response(out)


def _customer(row: asyncpg.Record) -> Customer:
    return Customer(
        id=row["id"],
        name=row["name"],
        referrer_id=row["referrer_id"],
        level=row["level"],
        tier=row["tier"],
    )


@routes.post("/customers")
@operation(
    "Register a customer, optionally referred by an existing one (admin)",
    body=NewCustomer,
    response=Customer,
    status=201,
    idempotent=True,
)
async def create_customer(request: web.Request) -> web.Response:
    principal = _auth(request, "admin")
    body = await parse_body(request, NewCustomer)

    async def effect(conn: asyncpg.Connection) -> tuple[int, object]:
        customer_id = await commands.register_customer(
            conn, body.name, body.referrer_id, body.tier, principal.sub
        )
        row = await commands.require_customer(conn, customer_id)
        return 201, _customer(row).model_dump(mode="json")

    return await _idempotent(request, principal, effect)


@routes.get("/customers/{customer_id}")
@operation("A customer", response=Customer, errors=(404,))
async def get_customer(request: web.Request) -> web.Response:
    principal = _auth(request, "customer", "admin")
    customer_id = path_uuid(request, "customer_id", "customer")
    _may_read(principal, customer_id)
    async with request.app[DATABASE].acquire() as conn:
        row = await commands.require_customer(conn, customer_id)
    return json_response(_customer(row))


@routes.get("/customers/{customer_id}/rewards")
@operation(
    "Tree points, level and reward entries of a customer",
    query=RewardsQuery,
    response=Rewards,
    errors=(404,),
)
async def get_rewards(request: web.Request) -> web.Response:
    principal = _auth(request, "customer", "admin")
    customer_id = path_uuid(request, "customer_id", "customer")
    _may_read(principal, customer_id)
    query = parse_query(request, RewardsQuery)
    owner = str(customer_id)
    async with request.app[DATABASE].transaction(isolation="repeatable_read") as conn:
        row = await commands.require_customer(conn, customer_id)
        points = await ledger.balance(conn, SCHEMA, ledger.POINTS, owner)
        rows = await ledger.entries(
            conn, SCHEMA, ledger.POINTS, owner, limit=query.limit + 1, before_id=query.before
        )
    entries, next_before = _entries(rows, query.limit)
    return json_response(
        Rewards(
            customer_id=customer_id,
            points=points,
            level=row["level"],
            entries=entries,
            next_before=next_before,
        )
    )
