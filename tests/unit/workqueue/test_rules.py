"""Retry delays and delay buckets of the work queue: pure functions."""

from __future__ import annotations

from shared.workqueue import RetryPolicy
from shared.workqueue.amqp_messages import delay_bucket


def test_retry_delays_grow_exponentially_with_bounded_jitter() -> None:
    policy = RetryPolicy(max_attempts=6, base=1.0, cap=10.0, jitter=0.5)
    for attempt, full in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0)):
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(full * 0.5 <= d <= full for d in delays)
        assert len(set(delays)) > 1  # jittered, so workers do not retry in lockstep


def test_delay_buckets_keep_short_delays_apart_from_long_ones() -> None:
    assert delay_bucket(1) < delay_bucket(100) < delay_bucket(1_000) < delay_bucket(60_000)
    assert delay_bucket(10**12) == 27
