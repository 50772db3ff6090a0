"""HTTP edge of checkout_api, one module per resource: authenticate, validate, run one
command or query, answer. `routes` holds every route; the app registers them at once."""

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

routes: list[web.AbstractRouteDef] = [
    *products.routes,
    *carts.routes,
    *checkout.routes,
    *wallet.routes,
    *transactions.routes,
    *customers.routes,
]
