"""Durable enqueue and claim rates of the experiment queue (a benchmark, not a test).

On the real store (SQLite, WAL, synchronous=FULL: every transaction is fsynced before it
returns), in a throwaway folder on the repo's filesystem (or --dir): N submits through
`Ledger.submit`, then N claims through `Ledger.claim`, one transaction each, timed one by one.
Reports the median and p95 latency and the rate of each (goal: at least 1,000 ops/s each),
plus the cost of a one-row durable transaction on the same file and of a bare fsync, the
floors under both.

Usage (from the repo root):
  .venv/bin/python benchmarks/queue_rates.py [--n 3000] [--dir DIR]
  .venv/bin/python benchmarks/queue_rates.py --smoke [--out FILE]   # a tiny run, for the tests
Writes benchmarks/results/<date>-queue.json (--smoke: only with --out) and prints a markdown
table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from voicedesk.config import ExperimentSettings
from voicedesk.experiments.ledger import Ledger, Submission
from voicedesk.store import Store

ROOT = Path(__file__).resolve().parent.parent

GOAL_OPS_S = 1000.0
"""The rate each of enqueue and claim should reach."""


def timed(
    n: int, op: Callable[[int], object], latencies: list[float] | None = None
) -> dict[str, float]:
    """Run `op(i)` n times; latency percentiles (ms) and the rate (ops/s).

    Each latency (ms, in run order) is also appended to `latencies` when one is given.
    """
    latencies = [] if latencies is None else latencies
    first = len(latencies)
    start = time.perf_counter()
    for i in range(n):
        began = time.perf_counter()
        op(i)
        latencies.append((time.perf_counter() - began) * 1000)
    total = time.perf_counter() - start
    latencies = sorted(latencies[first:])
    return {
        "ops": n, "seconds": round(total, 4), "ops_per_s": round(n / total, 1),
        "median_ms": round(statistics.median(latencies), 3),
        "p95_ms": round(latencies[min(n - 1, int(n * 0.95))], 3),
        "max_ms": round(latencies[-1], 3),
    }


def filesystem(path: Path) -> str:
    """The type of the filesystem holding `path` (from /proc/mounts), or "unknown"."""
    best, kind = "", "unknown"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    resolved = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) > 2 and resolved.startswith(parts[1]) and len(parts[1]) > len(best):
            best, kind = parts[1], parts[2]
    return kind


def measure(
    n: int, folder: Path, latencies: dict[str, list[float]] | None = None
) -> dict[str, Any]:
    """Submit n experiments, claim them all, and time the floors: a one-row commit, an fsync.

    With `latencies`, every op's latency (ms) goes into `latencies[op]` too (op: submit,
    claim, one_row_transaction, fsync).
    """
    kept = latencies if latencies is not None else {}
    for op in ("submit", "claim", "one_row_transaction", "fsync"):
        kept.setdefault(op, [])
    store = Store(folder / "queue.db")
    try:
        synchronous = store.query("PRAGMA synchronous")[0][0]
        journal = store.query("PRAGMA journal_mode")[0][0]
        assert synchronous == 2, f"the store runs with synchronous={synchronous}, not FULL"
        ledger = Ledger(store, ExperimentSettings())
        submit = timed(
            n, lambda i: ledger.submit(Submission(f"try idea {i}", "bench")), kept["submit"]
        )
        claims: list[object] = []
        claim = timed(
            n, lambda i: claims.append(ledger.claim("bench:1:abc", "0")), kept["claim"]
        )
        assert all(claims) and ledger.claim("bench:1:abc") is None, "a claim came back empty"

        with store.transaction() as db:
            db.execute("CREATE TABLE bench_probe (i INTEGER)")

        def one_row(i: int) -> None:
            with store.transaction() as db:
                db.execute("INSERT INTO bench_probe VALUES (?)", (i,))

        floor = timed(max(1, n // 3), one_row, kept["one_row_transaction"])
        fsync_floor = timed(
            max(1, n // 3), lambda _: fsync_once(folder / "fsync.probe"), kept["fsync"]
        )
    finally:
        store.close()
    return {
        "date": date.today().isoformat(), "n": n, "goal_ops_per_s": GOAL_OPS_S,
        "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(), "filesystem": filesystem(folder),
        "journal_mode": journal, "synchronous": "FULL",
        "submit": submit, "claim": claim, "one_row_transaction": floor, "fsync": fsync_floor,
        "meets_goal": {
            "submit": submit["ops_per_s"] >= GOAL_OPS_S, "claim": claim["ops_per_s"] >= GOAL_OPS_S,
        },
    }


def fsync_once(path: Path) -> None:
    """Write a byte and fsync it: what one durable commit costs at least."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, b"x")
        os.fsync(fd)
    finally:
        os.close(fd)


def table(results: dict[str, Any]) -> str:
    """The results as a markdown table and a one-line verdict."""
    lines = ["| op | n | median ms | p95 ms | ops/s | goal |", "|---|---|---|---|---|---|"]
    for name in ("submit", "claim", "one_row_transaction", "fsync"):
        row = results[name]
        goal = {True: "met", False: "MISSED"}.get(results["meets_goal"].get(name), "")
        lines.append(f"| {name} | {row['ops']} | {row['median_ms']} | {row['p95_ms']} |"
                     f" {row['ops_per_s']} | {goal} |")
    lines.append(
        f"\nqueue {results['date']}: submit {results['submit']['ops_per_s']}/s, claim "
        f"{results['claim']['ops_per_s']}/s durable (WAL, synchronous=FULL, "
        f"{results['filesystem']}); goal {GOAL_OPS_S:g}/s each"
    )
    return "\n".join(lines)


def main() -> None:
    """Parse the options, run, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="submits, then as many claims")
    parser.add_argument("--dir", type=Path, default=ROOT, help="where the throwaway store goes")
    parser.add_argument("--smoke", action="store_true", help="a tiny run, for the tests")
    parser.add_argument("--out", type=Path, help="the JSON file to write")
    args = parser.parse_args()
    n = 30 if args.smoke else args.n
    with tempfile.TemporaryDirectory(prefix=".queue-bench-", dir=args.dir) as folder:
        results = measure(n, Path(folder))
    sys.stdout.write(table(results) + "\n")
    out = args.out
    if out is None and not args.smoke:
        out = ROOT / "benchmarks" / "results" / f"{results['date']}-queue.json"
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        sys.stdout.write(f"wrote {out}\n")


if __name__ == "__main__":
    main()
