"""The flows of checkout_api as OpenAPI links: a customer is registered and funded, a product
goes into the cart, the cart is paid, the transaction read and refunded
(`@operation(links=...)` of each route names its set)."""

from __future__ import annotations

from shared.http.openapi_links import Link

CUSTOMER_ID = {"customer_id": "$response.body#/id"}
TRANSACTION_ID = {"transaction_id": "$response.body#/transaction_id"}

AFTER_CUSTOMER = (
    Link("GetCustomer", "GET /customers/{customer_id}", "the customer", CUSTOMER_ID),
    Link(
        "CustomerRewards",
        "GET /customers/{customer_id}/rewards",
        "the customer's tree points",
        CUSTOMER_ID,
    ),
    Link(
        "TopUpWallet",
        "POST /wallet/top-ups",
        "fund the customer's wallet",
        body={"customer_id": "$response.body#/id"},
    ),
    Link("CustomerWallet", "GET /wallet", "the customer's wallet", CUSTOMER_ID),
    Link(
        "CustomerTransactions",
        "GET /transactions",
        "the customer's transactions",
        CUSTOMER_ID,
    ),
    Link(
        "ReferCustomer",
        "POST /customers",
        "register a customer this one referred",
        body={"referrer_id": "$response.body#/id"},
    ),
)

AFTER_TOP_UP = (
    Link(
        "FundedWallet",
        "GET /wallet",
        "the wallet just credited",
        {"customer_id": "$response.body#/customer_id"},
    ),
)

AFTER_PRODUCT = (
    Link(
        "AddToCart",
        "POST /carts/me/items",
        "put the product in the caller's cart",
        body={"product_id": "$response.body#/id"},
    ),
    Link(
        "BuyNow",
        "POST /checkout",
        "buy one unit of it at once",
        body={"items": [{"product_id": "$response.body#/id", "quantity": 1}]},
    ),
)

AFTER_CART_ITEM = (
    Link("CheckoutCart", "POST /checkout", "pay the cart"),
    Link(
        "RemoveCartItem",
        "DELETE /carts/me/items/{product_id}",
        "take the product out again",
        {"product_id": "$request.body#/product_id"},
    ),
    Link("GetCart", "GET /carts/me", "the cart as it is now"),
)

AFTER_CHECKOUT = (
    Link(
        "GetTransaction",
        "GET /transactions/{transaction_id}",
        "the transaction paid",
        TRANSACTION_ID,
    ),
    Link(
        "RefundTransaction",
        "POST /transactions/{transaction_id}/refunds",
        "refund all or part of it",
        TRANSACTION_ID,
    ),
)

AFTER_TRANSACTION = (
    Link(
        "RefundShownTransaction",
        "POST /transactions/{transaction_id}/refunds",
        "refund all or part of it",
        {"transaction_id": "$response.body#/id"},
    ),
)

# After a refund: read the transaction again, or refund what is left.
AFTER_REFUND = AFTER_CHECKOUT
