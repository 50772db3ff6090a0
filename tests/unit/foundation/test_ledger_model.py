"""The ledger's model: a transfer moves a positive amount between two accounts of one unit."""

from __future__ import annotations

import pytest

from shared.storage.ledger_model import (
    CENTS,
    REWARDS,
    SHOP,
    TOP_UPS,
    WHOLE_POINTS,
    Account,
    Transfer,
    points,
    wallet,
)


def test_a_transfer_moves_a_positive_amount() -> None:
    for amount in (0, -5):
        with pytest.raises(ValueError, match="positive"):
            Transfer(None, "top_up", "r", TOP_UPS, wallet("ada"), amount)


def test_a_transfer_needs_two_accounts() -> None:
    with pytest.raises(ValueError, match="two accounts"):
        Transfer(None, "k", "r", wallet("ada"), wallet("ada"), 1)


def test_points_never_turn_into_cents() -> None:
    with pytest.raises(ValueError, match="different units"):
        Transfer(None, "k", "r", REWARDS, wallet("ada"), 1)
    with pytest.raises(ValueError, match="different units"):
        Transfer(None, "k", "r", points("ada"), SHOP, 1)


def test_accounts_have_the_unit_of_their_type() -> None:
    assert {wallet("a").unit, SHOP.unit, TOP_UPS.unit} == {CENTS}
    assert {points("a").unit, REWARDS.unit} == {WHOLE_POINTS}
    with pytest.raises(ValueError, match="unknown account type"):
        _ = Account("bonus", "a").unit
    transfer = Transfer(7, "reward_credit", "t:1", REWARDS, points("ada"), 3)
    assert (transfer.debit, transfer.credit, transfer.amount) == (REWARDS, points("ada"), 3)
