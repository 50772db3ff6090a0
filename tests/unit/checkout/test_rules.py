"""Checkout rules and request models, without I/O."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from services.checkout_api.domain import EmptyCart, Line, total
from services.checkout_api.models import CheckoutIn, NewProduct, TopUpIn


def test_the_total_is_the_exact_sum_of_price_times_quantity_in_cents() -> None:
    lines = [Line(uuid.uuid4(), "Gum", 1, 7), Line(uuid.uuid4(), "Third", 333, 3)]
    assert total(lines) == 1006


def test_checking_out_nothing_is_an_empty_cart_problem() -> None:
    with pytest.raises(EmptyCart) as caught:
        total([])
    assert caught.value.status == 409


@pytest.mark.parametrize("price", [10.5, "1000", True, 0, -1, 10**9])
def test_a_price_must_be_a_positive_whole_number_of_cents(price: object) -> None:
    with pytest.raises(ValidationError):
        NewProduct.model_validate({"name": "Tea", "price": price})


def test_a_top_up_refuses_fractions_of_a_cent() -> None:
    with pytest.raises(ValidationError):
        TopUpIn.model_validate({"customer_id": str(uuid.uuid4()), "amount": 0.01})
    assert TopUpIn.model_validate({"customer_id": str(uuid.uuid4()), "amount": 1}).amount == 1


def test_a_checkout_without_items_means_the_cart_and_items_cannot_be_empty() -> None:
    assert CheckoutIn.model_validate({}).items is None
    with pytest.raises(ValidationError):
        CheckoutIn.model_validate({"items": []})
    with pytest.raises(ValidationError):
        CheckoutIn.model_validate({"items": None, "price": 1})
