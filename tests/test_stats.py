"""Timing summaries."""

from __future__ import annotations

from voicedesk.stats import format_summary, percentile, summarise


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]
    assert percentile(values, 0.95) == 19.0
    assert percentile(values, 0.5) == 10.0
    assert percentile([7.0], 0.95) == 7.0


def test_summary_per_key_in_order() -> None:
    records = [{"transcribe": 100.0, "parse": 1.0}, {"transcribe": 300.0}, {"transcribe": 200.0}]
    assert summarise(records) == {"transcribe": (3, 200.0, 300.0), "parse": (1, 1.0, 1.0)}
    first, second = format_summary(records)
    assert first.startswith("transcribe") and "median    200.0 ms" in first
    assert second.startswith("parse")
