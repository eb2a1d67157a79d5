"""The ledger as autoresearch's results.tsv: one tab-separated line per finished run."""

from __future__ import annotations

from collections.abc import Iterable

from voicedesk.types import Experiment

EXPORTED = ("keep", "discard", "crash")
"""The statuses results.tsv has (cancelled and unfinished experiments are left out)."""

NO_COMMIT = "-------"
"""The commit column of a run that made no commit (it crashed before one)."""


def _cell(text: str) -> str:
    """Text on one line with no tabs, so that it stays one column."""
    return " ".join(text.split())


def results_line(experiment: Experiment) -> str:
    """One row: short commit, metric (0 for a crash), memory in GB, status, description."""
    commit = (experiment.commit_sha or "")[:7] or NO_COMMIT
    metric = experiment.metric_value if experiment.status != "crash" else None
    memory = (experiment.peak_vram_mb or 0.0) / 1024 if experiment.status != "crash" else 0.0
    return "\t".join((commit, f"{metric or 0.0:.6f}", f"{memory:.1f}", experiment.status,
                      _cell(experiment.description)))


def results_tsv(experiments: Iterable[Experiment], metric_name: str) -> str:
    """autoresearch's results.tsv: a header, then the finished runs, oldest first."""
    rows = sorted((e for e in experiments if e.status in EXPORTED), key=lambda e: e.id)
    header = "\t".join(("commit", _cell(metric_name), "memory_gb", "status", "description"))
    return "\n".join([header, *map(results_line, rows)]) + "\n"
