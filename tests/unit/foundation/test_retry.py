"""The one backoff function and the one chunking helper."""

from __future__ import annotations

import pytest

from shared.retry import backoff_delay, chunked


def test_backoff_stays_within_zero_and_the_exponential_bound() -> None:
    for attempt in range(8):
        bound = min(10.0, 0.2 * 2**attempt)
        delays = [backoff_delay(attempt) for _ in range(200)]
        assert all(0 <= d <= bound for d in delays)
        assert max(delays) > bound / 2  # jitter spreads over the whole range


def test_backoff_never_exceeds_its_cap() -> None:
    assert all(backoff_delay(50, base=0.5, cap=3.0) <= 3.0 for _ in range(200))
    assert all(backoff_delay(10_000) <= 10.0 for _ in range(10))


def test_partial_jitter_keeps_the_delay_near_its_bound() -> None:
    delays = [backoff_delay(3, base=1.0, cap=100.0, jitter=0.5) for _ in range(200)]
    assert all(4.0 <= d <= 8.0 for d in delays)


def test_chunks_cover_every_item_once_in_order() -> None:
    items = list(range(23))
    parts = [list(part) for part in chunked(items, 10)]
    assert parts == [items[:10], items[10:20], items[20:]]
    assert list(chunked([], 10)) == []


def test_a_chunk_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        list(chunked([1], 0))
