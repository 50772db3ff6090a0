"""The window a provider's stats cover, and their rates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.booking_api.analytics import EARLIEST, LATEST, rate, resolve_window
from shared.errors import Problem

NOW = datetime(2030, 6, 15, 12, tzinfo=UTC)
DAYS_30 = timedelta(days=30)


def test_no_bounds_cover_the_last_thirty_days() -> None:
    window = resolve_window(None, None, NOW)
    assert (window.start, window.end) == (NOW - DAYS_30, NOW)


def test_a_lone_to_looks_back_thirty_days_and_a_lone_past_from_runs_to_now() -> None:
    end = datetime(2030, 3, 1, tzinfo=UTC)
    assert resolve_window(None, end, NOW).start == end - DAYS_30
    start = datetime(2030, 1, 1, tzinfo=UTC)
    assert resolve_window(start, None, NOW).end == NOW


def test_a_lone_future_from_runs_thirty_days_on() -> None:
    start = NOW + timedelta(days=2)
    assert resolve_window(start, None, NOW).end == start + DAYS_30


def test_defaults_near_the_ends_of_time_stay_in_range() -> None:
    assert resolve_window(None, EARLIEST + timedelta(days=1), NOW).start == EARLIEST
    assert resolve_window(LATEST - timedelta(days=1), None, NOW).end == LATEST


@pytest.mark.parametrize("gap", [timedelta(0), -timedelta(seconds=1)])
def test_from_must_come_before_to(gap: timedelta) -> None:
    with pytest.raises(Problem) as refused:
        resolve_window(NOW, NOW + gap, NOW)
    assert refused.value.status == 422


def test_rates_are_shares_to_four_decimals_and_none_without_requests() -> None:
    assert rate(2, 3) == 0.6667
    assert rate(0, 5) == 0.0
    assert rate(0, 0) is None
