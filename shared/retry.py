"""The one backoff function and the one chunking helper of the code base."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def backoff_delay(
    attempt: int, *, base: float = 0.2, cap: float = 10.0, jitter: float = 1.0
) -> float:
    """Seconds to wait before retry `attempt` (0, 1, 2, ...): `base * 2**attempt`, at most `cap`,
    scaled by a random factor in [1 - jitter, 1] (jitter 1.0 is "full jitter")."""
    # The exponent is clamped: 2**attempt overflows a float after a long outage.
    raw = min(cap, base * 2 ** min(max(attempt, 0), 64))
    return float(raw * random.uniform(1.0 - jitter, 1.0))


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most `size` items."""
    if size < 1:
        raise ValueError("size must be at least 1")
    for start in range(0, len(items), size):
        yield items[start : start + size]
