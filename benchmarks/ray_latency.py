"""Start latency of the Ray experiment backend (a benchmark, not a test).

Measures, each as the median of --runs (5) sequential runs of a probe script whose first action
is to print `started: <time.time()>`:
  1. local: `python probe.py` as a plain subprocess (interpreter start; the embedded worker's
     floor);
  2. ray_submit: `JobSubmissionClient.submit_job` with the dispatcher's arguments (the probe's
     folder as working_dir, env_vars, entrypoint_num_gpus) -> the probe starts; also how long
     the submit call itself blocks and when Ray says the job started;
  3. dispatcher: `RayDispatcher` (poll 1 s): experiment queued in the ledger -> the probe starts
     (adds the poll wait, the git worktree and the heartbeat/claim bookkeeping).
Ray's added latency = median(ray_submit) - median(local).

Usage (from the repo root; needs `pip install -e .[ray]`):
  .venv/bin/python benchmarks/ray_latency.py [--runs 5] [--address http://HEAD:8265]
Without --address it starts a private single-node cluster on 127.0.0.1 (1 fake GPU) and stops
it after. Writes benchmarks/results/<date>-ray.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import ray  # noqa: E402
from test_ray_backend import local_ray_cluster  # noqa: E402

from voicedesk.config import Settings  # noqa: E402
from voicedesk.experiments.ledger import Ledger, Submission  # noqa: E402
from voicedesk.experiments.ray_backend import RayDispatcher  # noqa: E402
from voicedesk.experiments.ray_jobs import cluster_gpus, connect  # noqa: E402
from voicedesk.store import Store  # noqa: E402

PROBE = 'import time\nprint(f"started: {time.time():.6f}", flush=True)\n'
STARTED = re.compile(r"^started: ([0-9.]+)", re.MULTILINE)


def _started(text: str) -> float:
    """The probe's start time in its output."""
    found = STARTED.search(text)
    if found is None:
        raise RuntimeError(f"the probe did not print its start time: {text[-500:]!r}")
    return float(found.group(1))


def _summary(values: list[float]) -> dict[str, Any]:
    """Median, min and max in milliseconds, and the raw values."""
    ms = [round(v * 1000, 1) for v in values]
    return {"median_ms": round(statistics.median(ms), 1), "min_ms": min(ms), "max_ms": max(ms),
            "runs_ms": ms}


def measure_local(folder: Path, runs: int) -> dict[str, Any]:
    """The probe as a plain subprocess: submit time -> its first line."""
    took = []
    for _ in range(runs):
        before = time.time()
        done = subprocess.run([sys.executable, "probe.py"], cwd=folder, capture_output=True,
                              text=True, check=True)
        took.append(_started(done.stdout) - before)
    return _summary(took)


def measure_ray_submit(address: str, folder: Path, runs: int) -> dict[str, Any]:
    """The probe as a Ray job, submitted the way the dispatcher does."""
    client = connect(address)
    gpus = 1.0 if cluster_gpus(address) >= 1 else 0.0
    start, call, ray_start = [], [], []
    for i in range(runs):
        sid = f"voicedesk-latency-{time.time_ns()}-{i}"
        before = time.time()
        client.submit_job(
            entrypoint=f"{sys.executable} probe.py", submission_id=sid, entrypoint_num_gpus=gpus,
            runtime_env={"working_dir": str(folder), "env_vars": {
                "VOICEDESK_EXPERIMENT_ID": str(i), "VOICEDESK_TIME_BUDGET_S": "5"}},
        )
        call.append(time.time() - before)
        while str(client.get_job_status(sid).value) not in ("SUCCEEDED", "FAILED", "STOPPED"):
            time.sleep(0.05)
        start.append(_started(client.get_job_logs(sid)) - before)
        ray_start.append(client.get_job_info(sid).start_time / 1000 - before)
        client.delete_job(sid)
    return {**_summary(start), "num_gpus": gpus, "submit_call": _summary(call),
            "ray_job_start": _summary(ray_start)}


def measure_dispatcher(address: str, folder: Path, runs: int) -> dict[str, Any]:
    """Queue -> probe start through RayDispatcher (poll 1 s) on a git repo of the probe."""
    repo = folder / "repo"
    repo.mkdir()
    (repo / "probe.py").write_text(PROBE)
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "probe"]):
        subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", *args], cwd=repo,
                       check=True, capture_output=True)
    settings = Settings(store={"data_dir": folder / "data"}, experiments={
        "backend": "ray", "ray_address": address, "repo": repo,
        "command": f"{sys.executable} probe.py", "metric_regex": r"^started: ([0-9.]+)"})
    store = Store.in_dir(settings.data_dir())
    ledger = Ledger(store, settings.experiments)

    async def measure() -> list[float]:
        stop, took = asyncio.Event(), []
        task = asyncio.create_task(RayDispatcher(settings, store, poll_s=1.0).run(stop))
        for i in range(runs):
            before = time.time()
            exp, _ = ledger.submit(Submission(f"latency probe {i}", "benchmark"))
            while (now := ledger.get(exp.id)) is not None and now.status in ("queued", "running"):
                await asyncio.sleep(0.05)
            assert now is not None
            took.append(_started(Path(now.log_path or "").read_text()) - before)
        stop.set()
        await task
        return took

    try:
        return _summary(asyncio.run(measure()))
    finally:
        store.close()


@contextlib.contextmanager
def _cluster(address: str | None) -> Iterator[str]:
    """The cluster at `address`, or a private local one for the run."""
    if address:
        yield address
    else:
        with local_ray_cluster() as local:
            yield local


def main() -> None:
    """Measure, print a table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--address", help="a running cluster's dashboard (default: start one)")
    parser.add_argument("--out", type=Path, help="where to write the JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vdlat-") as temp, _cluster(args.address) as address:
        folder = Path(temp)
        (folder / "probe.py").write_text(PROBE)
        local = measure_local(folder, args.runs)
        submit = measure_ray_submit(address, folder, args.runs)
        dispatcher = measure_dispatcher(address, folder, args.runs)
    results = {
        "machine": platform.platform(), "cpus": os.cpu_count(),
        "date": date.today().isoformat(), "ray": ray.__version__, "runs": args.runs,
        "cluster": args.address or "private single node on 127.0.0.1 (1 fake GPU)",
        "local": local, "ray_submit": submit, "dispatcher": dispatcher,
        "ray_added_ms": round(submit["median_ms"] - local["median_ms"], 1),
    }
    out = args.out or ROOT / "benchmarks" / "results" / f"{date.today().isoformat()}-ray.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print("| path | median ms | min | max |\n|---|---|---|---|")
    for name, row in (("local subprocess", local), ("ray submit_job -> start", submit),
                      ("  submit_job call", submit["submit_call"]),
                      ("  Ray's job start_time", submit["ray_job_start"]),
                      ("dispatcher queue -> start", dispatcher)):
        print(f"| {name} | {row['median_ms']} | {row['min_ms']} | {row['max_ms']} |")
    print(f"\nRay's added start latency (median): {results['ray_added_ms']} ms; wrote {out}")


if __name__ == "__main__":
    main()
