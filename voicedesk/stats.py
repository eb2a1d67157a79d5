"""Median and p95 of per-utterance timings, for `listen --stats` and scripts/timings.py."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def summarise(records: Iterable[Mapping[str, float]]) -> dict[str, tuple[int, float, float]]:
    """Per timing key: (count, median, p95), keys in first-seen order."""
    stages: dict[str, list[float]] = {}
    for record in records:
        for key, value in record.items():
            stages.setdefault(key, []).append(float(value))
    return {
        key: (len(values), statistics.median(values), percentile(values, 0.95))
        for key, values in stages.items()
    }


def format_summary(records: Iterable[Mapping[str, float]]) -> list[str]:
    """One line per timing key: count, median and p95 in milliseconds."""
    return [
        f"{key:22s} n={count:3d}  median {median:8.1f} ms  p95 {p95:8.1f} ms"
        for key, (count, median, p95) in summarise(records).items()
    ]
