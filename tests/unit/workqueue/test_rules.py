"""Reward arithmetic and retry delays: pure functions."""

from __future__ import annotations

import pytest

from services.reward_worker.domain import RewardRules
from shared.workqueue import RetryPolicy
from shared.workqueue.amqp_messages import delay_bucket

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


def test_retry_delays_grow_exponentially_with_bounded_jitter() -> None:
    policy = RetryPolicy(max_attempts=6, base=1.0, cap=10.0, jitter=0.5)
    for attempt, full in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0)):
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(full * 0.5 <= d <= full for d in delays)
        assert len(set(delays)) > 1  # jittered, so workers do not retry in lockstep


def test_delay_buckets_keep_short_delays_apart_from_long_ones() -> None:
    assert delay_bucket(1) < delay_bucket(100) < delay_bucket(1_000) < delay_bucket(60_000)
    assert delay_bucket(10**12) == 27
