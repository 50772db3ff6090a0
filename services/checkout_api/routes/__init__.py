"""HTTP edge of checkout_api, one module per resource: authenticate, validate, run one
command or query, answer. `add_routes` registers every route."""

from __future__ import annotations

from aiohttp import web

from services.checkout_api.routes import (
    carts,
    checkout,
    customers,
    products,
    transactions,
    wallet,
)


def add_routes(app: web.Application) -> None:
    for resource in (products, carts, checkout, wallet, transactions, customers):
        resource.add_routes(app)
