"""Provider analytics, the pure part: the window a question covers and the rates of its answer.

No I/O and no clock: the caller passes `now`. The figures themselves come from the
`provider_requests` and `provider_answers` projections (services.booking_api.stats).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.errors import Problem

DEFAULT_WINDOW = timedelta(days=30)
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    """A half-open interval of time [start, end): requests made in it are counted."""

    start: datetime
    end: datetime


def resolve_window(start: datetime | None, end: datetime | None, now: datetime) -> Window:
    """The window of `?from&to`. `to` defaults to now (to 30 days after a `from` that is not
    yet past), `from` to 30 days before `to`; 422 unless `from` is before `to`."""
    if end is None:
        end = now if start is None or start < now else _shift(start, DEFAULT_WINDOW)
    if start is None:
        start = _shift(end, -DEFAULT_WINDOW)
    if start >= end:
        raise Problem(422, "`from` must be before `to`", errors=[{"loc": ["from"]}])
    return Window(start, end)


def _shift(at: datetime, by: timedelta) -> datetime:
    """`at` moved by `by`, held within the range of datetimes instead of overflowing."""
    try:
        return at + by
    except OverflowError:
        return EARLIEST if by < timedelta(0) else LATEST


def rate(part: int, whole: int) -> float | None:
    """`part` as a share of `whole`, to four decimals; None when there is no whole."""
    if whole <= 0:
        return None
    return round(part / whole, 4)
