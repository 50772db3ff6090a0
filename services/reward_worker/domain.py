"""Reward rules: pure arithmetic, no I/O.

A checkout of `total` cents gives the member at upline depth d (1 = direct referrer)

    points = floor(total * percent[d] / 100 * rate[level] / 100)

where `level` is the member's level before this credit and `rate[level]` is a percentage
(100 = the plain rate). Floor is applied once per credit, on exact integer arithmetic
(percentages are held in basis points), so points are never over-credited and a credit
that rounds to zero is skipped. A member whose point total reaches `thresholds[i]` moves
to level i + 2 (levels start at 1 and never go down).

A refund takes back from each credit its share (`share`): a refund of `amount` after `before`
cents were refunded already takes `floor(points * (before + amount) / total) - floor(points *
before / total)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class RewardRules:
    percentages: tuple[float, ...] = (10.0, 5.0, 3.0, 2.0, 1.0)
    thresholds: tuple[int, ...] = (1_000, 5_000, 20_000)
    rates: tuple[int, ...] = (100, 110, 125, 150)

    def __post_init__(self) -> None:
        if any(p < 0 for p in self.percentages):
            raise ValueError("reward percentages must not be negative")
        if list(self.thresholds) != sorted(set(self.thresholds)):
            raise ValueError("level thresholds must be strictly increasing")
        if len(self.rates) < len(self.thresholds) + 1:
            raise ValueError("every level needs a rate: one more rate than thresholds")

    @property
    def max_depth(self) -> int:
        return len(self.percentages)

    def rate(self, level: int) -> int:
        return self.rates[min(max(level, 1), len(self.rates)) - 1]

    def points(self, total: int, depth: int, level: int) -> int:
        """Points for the member at `depth` whose level is `level`, rounded down."""
        if not 1 <= depth <= self.max_depth or total <= 0:
            return 0
        basis_points = round(self.percentages[depth - 1] * 100)
        return total * basis_points * self.rate(level) // (10_000 * 100)

    def level_for(self, total_points: int) -> int:
        """The level a point total earns (1 when below the first threshold)."""
        return 1 + sum(1 for threshold in self.thresholds if total_points >= threshold)

    def credits(self, total: int, upline: Sequence[Member]) -> list[Credit]:
        """The credits a checkout of `total` gives its upline (those rounding to zero left out)."""
        credits = [
            Credit(m.id, m.depth, self.points(total, m.depth, m.level), m.level, self.rate(m.level))
            for m in upline
        ]
        return [credit for credit in credits if credit.points > 0]


@dataclass(frozen=True)
class Member:
    """An upline member of a buyer: `depth` 1 is the direct referrer; `level` as it stands."""

    id: str
    depth: int
    level: int


@dataclass(frozen=True)
class Credit:
    """Points for one upline member; `level` and `rate` are the member's before the credit."""

    member: str
    depth: int
    points: int
    level: int
    rate: int


def share(points: int, total: int, before: int, amount: int) -> int:
    """The points a refund of `amount` takes back of a credit of `points`, after `before` of the
    checkout's `total` was refunded already: the shares of every refund add up, to the point,
    to the credit itself once the whole total is refunded."""
    return points * (before + amount) // total - points * before // total


def take_back(credits: Sequence[Credit], total: int, before: int, amount: int) -> list[Credit]:
    """What one refund takes back of each credit (the same member, depth, level and rate; the
    points its share); shares that round to zero are left out."""
    backs = [
        replace(credit, points=share(credit.points, total, before, amount)) for credit in credits
    ]
    return [back for back in backs if back.points > 0]
