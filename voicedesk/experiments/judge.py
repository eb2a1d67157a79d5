"""Pure rules of the ledger: read the metric from a log, and keep or discard a result."""

from __future__ import annotations

import re
from dataclasses import dataclass

from voicedesk.config import ExperimentSettings


@dataclass(frozen=True)
class Readings:
    """What a run's log says: the metric and the peak memory (None when not printed)."""

    metric: float | None
    peak_vram_mb: float | None


def _last(pattern: str, log: str) -> float | None:
    """The last number the pattern's first group matches, line by line."""
    found = None
    for match in re.finditer(pattern, log, flags=re.MULTILINE):
        try:
            found = float(match.group(1))
        except (IndexError, ValueError):
            continue
    return found


def read_log(log: str, settings: ExperimentSettings) -> Readings:
    """The metric and the peak memory printed in a run's log."""
    return Readings(_last(settings.metric_regex, log), _last(settings.memory_regex, log))


def better(value: float, than: float | None, direction: str) -> bool:
    """Whether `value` beats `than` (anything beats nothing)."""
    if than is None:
        return True
    return value < than if direction == "lower" else value > than


def verdict(value: float, best_kept: float | None, direction: str) -> str:
    """`keep` when the result beats the best kept one of its baseline, else `discard`."""
    return "keep" if better(value, best_kept, direction) else "discard"
