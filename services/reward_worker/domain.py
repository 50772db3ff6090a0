"""Reward rules: pure arithmetic, no I/O.

A checkout of `total` cents gives the member at upline depth d (1 = direct referrer)

    points = floor(total * percent[d] / 100 * rate[level] / 100)

where `level` is the member's level before this credit and `rate[level]` is a percentage
(100 = the plain rate). Floor is applied once per credit, on exact integer arithmetic
(percentages are held in basis points), so points are never over-credited and a credit
that rounds to zero is skipped. A member whose point total reaches `thresholds[i]` moves
to level i + 2 (levels start at 1 and never go down).
"""

from __future__ import annotations

from dataclasses import dataclass


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
