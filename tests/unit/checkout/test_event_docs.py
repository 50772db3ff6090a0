"""Checkout's events, the cart's included, are registered and published as JSON Schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.events import REGISTRY, checkout
from shared.events.export import export

DOCS = Path(__file__).resolve().parents[3] / "docs" / "events"
CHECKOUT_TYPES = [t for t in REGISTRY.types() if REGISTRY.model(t).__module__ == checkout.__name__]


def test_every_checkout_event_type_is_registered_including_the_cart_events() -> None:
    assert {"CART_ITEM_ADDED", "CART_ITEM_REMOVED", "CART_CLEARED", "POINTS_CREDITED"} <= set(
        CHECKOUT_TYPES
    )


@pytest.mark.parametrize("type_", CHECKOUT_TYPES)
def test_docs_hold_the_current_json_schema_of_each_checkout_event(
    type_: str, tmp_path: Path
) -> None:
    export(tmp_path)
    current = json.loads((tmp_path / f"{type_}.schema.json").read_text())
    published = DOCS / f"{type_}.schema.json"
    assert published.exists(), f"run make export-events: {published.name} is missing"
    assert json.loads(published.read_text()) == current, "run make export-events"
