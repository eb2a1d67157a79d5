#!/usr/bin/env python3
"""Summarise the timings of a `voicedesk listen --json` run: median and p95 of each stage (ms).

Usage: python3 scripts/timings.py out.jsonl
"""

from __future__ import annotations

import json
import statistics
import sys


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def main(path: str) -> None:
    """Print one line per timing key: count, median, p95."""
    stages: dict[str, list[float]] = {}
    with open(path) as handle:
        for line in handle:
            if line.strip():
                for key, value in json.loads(line).get("timings_ms", {}).items():
                    stages.setdefault(key, []).append(float(value))
    for key, values in stages.items():
        median, p95 = statistics.median(values), percentile(values, 0.95)
        print(f"{key:22s} n={len(values):3d}  median {median:8.1f} ms  p95 {p95:8.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1])
