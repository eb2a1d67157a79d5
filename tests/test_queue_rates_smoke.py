"""The queue-rates benchmark still runs: its --smoke size, as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_queue_rates_smoke(tmp_path: Path) -> None:
    out = tmp_path / "queue.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "queue_rates.py"), "--smoke",
         "--dir", str(tmp_path), "--out", str(out)],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| submit | 30 |" in done.stdout and "| claim | 30 |" in done.stdout
    results = json.loads(out.read_text())
    assert results["synchronous"] == "FULL" and results["journal_mode"] == "wal"
    for op in ("submit", "claim"):
        assert results[op]["ops"] == 30 and results[op]["ops_per_s"] > 0
        assert 0 < results[op]["median_ms"] <= results[op]["p95_ms"]
    assert not list(tmp_path.glob(".queue-bench-*")), "the throwaway store was left behind"
