"""A benchmark's figures: the median of several runs with their minimum and maximum."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    name: str
    value: float  # the median of the runs
    unit: str
    notes: str = ""
    low: float | None = None  # the smallest of the runs
    high: float | None = None  # the largest of the runs
    runs: int = 1
    command: str = ""  # how the figure was taken, when a tool outside this package took it


def figure(
    name: str, values: Sequence[float], unit: str, notes: str = "", command: str = ""
) -> Result:
    """The median of `values` (one per run) with their range."""
    if not values:
        raise ValueError(f"{name}: no runs")
    return Result(
        name,
        statistics.median(values),
        unit,
        notes,
        low=min(values),
        high=max(values),
        runs=len(values),
        command=command,
    )


def ratio(name: str, ours: Result, peer: Result, notes: str = "") -> Result:
    """ours / peer on medians, with the range of the worst and best pairing of runs."""
    if not peer.value or not peer.low or not peer.high:
        raise ValueError(f"{name}: the peer measured zero")
    low = (ours.low if ours.low is not None else ours.value) / peer.high
    high = (ours.high if ours.high is not None else ours.value) / peer.low
    return Result(name, ours.value / peer.value, "ratio", notes, low=low, high=high, runs=ours.runs)
