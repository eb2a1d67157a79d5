"""queue: durable enqueue and claim rates of the experiment queue (benchmarks/queue_rates.py).

On the real store (SQLite, WAL, synchronous=FULL) in a throwaway folder on the repo's
filesystem: N submits, then N claims, one transaction each, timed one by one; then the
floors under both, a one-row durable transaction and a bare fsync.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.harness import ROOT, Context, Figure, Goal, SuiteResult, command
from benchmarks.queue_rates import GOAL_OPS_S, measure

N, SMOKE_N = 3000, 30
OPS = (
    ("submit", "enqueue (Ledger.submit)", True),
    ("claim", "claim (Ledger.claim)", True),
    ("one_row_transaction", "one-row durable transaction", False),
    ("fsync", "bare fsync", False),
)
"""(key in measure's results, the figure's name, whether the rate has the goal)."""


def run(ctx: Context) -> SuiteResult:
    """Measure the queue on a throwaway store; a rate and a latency figure per op."""
    n = SMOKE_N if ctx.smoke else N
    latencies: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix=".queue-bench-", dir=ROOT) as folder:
        results = measure(n, Path(folder), latencies)
    goal = Goal(">=", GOAL_OPS_S)
    figures: list[Figure] = []
    for key, name, has_goal in OPS:
        figures.append(
            Figure.single(f"{name} rate", "ops/s", results[key]["ops_per_s"],
                          goal if has_goal else None)
        )
        figures.append(Figure.of(f"{name} latency", "ms", latencies[key]))
    return SuiteResult(
        suite="queue",
        command=command("queue", ctx, model=False),
        model=f"SQLite {results['sqlite']}, {results['journal_mode']}, synchronous=FULL",
        figures=tuple(figures),
        details={
            key: results[key]
            for key in ("n", "sqlite", "filesystem", "journal_mode", "synchronous", "meets_goal")
        },
    )
