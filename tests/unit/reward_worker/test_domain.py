"""The reward arithmetic: points per depth and level, levels, credits, refund shares."""

from __future__ import annotations

import pytest

from services.reward_worker.domain import Credit, Member, RewardRules, share, take_back

RULES = RewardRules(
    percentages=(10, 5, 3, 2, 1), thresholds=(1_000, 5_000, 20_000), rates=(100, 110, 125, 150)
)


def test_points_per_depth_are_the_configured_percentages_rounded_down() -> None:
    assert [RULES.points(12_345, depth, level=1) for depth in range(1, 6)] == [
        1234,  # 1234.5
        617,  # 617.25
        370,  # 370.35
        246,  # 246.9
        123,  # 123.45
    ]


def test_no_points_beyond_the_configured_depth_or_for_tiny_totals() -> None:
    assert RULES.points(10_000, 6, level=1) == 0
    assert RULES.points(99, 5, level=1) == 0  # 0.99 rounds down to nothing


def test_a_higher_level_earns_its_higher_rate() -> None:
    assert RULES.points(10_000, 1, level=2) == 1_100
    assert RULES.points(10_000, 1, level=4) == 1_500
    assert RULES.points(10_000, 1, level=9) == 1_500  # above the last level: its rate


def test_levels_follow_the_point_thresholds() -> None:
    assert [RULES.level_for(p) for p in (0, 999, 1_000, 4_999, 5_000, 20_000, 10**9)] == [
        1,
        1,
        2,
        2,
        3,
        4,
        4,
    ]


def test_rules_reject_thresholds_that_do_not_increase() -> None:
    with pytest.raises(ValueError):
        RewardRules(thresholds=(5_000, 1_000), rates=(100, 100, 100))


def test_rules_reject_a_level_without_a_rate() -> None:
    with pytest.raises(ValueError):
        RewardRules(thresholds=(1_000, 5_000), rates=(100, 110))


def test_the_credits_of_a_checkout_keep_each_member_s_level_and_rate_and_skip_zeros() -> None:
    upline = [Member("a", 1, 2), Member("b", 2, 1), Member("c", 5, 1)]
    assert RULES.credits(1_000, upline) == [
        Credit("a", 1, 110, 2, 110),
        Credit("b", 2, 50, 1, 100),
        # depth 5 earns 1 % of 1,000: 10 points
        Credit("c", 5, 10, 1, 100),
    ]
    assert RULES.credits(15, upline) == [Credit("a", 1, 1, 2, 110)]  # 1.65; 0.75 and 0.15 go


def test_the_shares_of_refunds_that_add_up_to_the_total_add_up_to_the_credit() -> None:
    for points, total, cuts in [
        (299, 3_000, [1, 999, 2_000]),
        (7, 10, [3, 3, 4]),
        (1, 3, [1, 1, 1]),
    ]:
        before, taken = 0, 0
        for amount in cuts:
            taken += share(points, total, before, amount)
            before += amount
        assert taken == points


def test_a_share_never_takes_more_than_the_refunded_part() -> None:
    assert share(100, 3_000, 0, 1_000) == 33
    assert share(100, 3_000, 1_000, 1_000) == 33
    assert share(100, 3_000, 2_000, 1_000) == 34


def test_a_refund_takes_back_a_share_of_each_credit_as_it_was_paid() -> None:
    credits = [Credit("a", 1, 1_100, 2, 110), Credit("b", 2, 3, 1, 100)]
    # A tenth of the total: 110 of the first credit, 0.3 of the second (nothing: left out).
    assert take_back(credits, 10_000, 0, 1_000) == [Credit("a", 1, 110, 2, 110)]
    # The rest of the total takes back what is left of both, to the point.
    assert take_back(credits, 10_000, 1_000, 9_000) == [
        Credit("a", 1, 990, 2, 110),
        Credit("b", 2, 3, 1, 100),
    ]
