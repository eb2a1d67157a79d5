"""The embedded experiment worker with real git, real processes and the real store: a tiny
training script in a temporary repo reads a knob the patch changes and prints val_bpb."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from voicedesk.config import Settings
from voicedesk.experiments.ledger import FINISHED, Ledger, Submission
from voicedesk.experiments.worker import Worker, speech_gpu
from voicedesk.experiments.workspace import (
    ExperimentError,
    advance_baseline,
    prepare_workspace,
)
from voicedesk.store import Store
from voicedesk.types import Experiment

TRAIN = """\
import os, sys, time
import config
pids = os.environ.get("TRAIN_PIDS")
if pids:
    with open(os.path.join(pids, os.environ["VOICEDESK_EXPERIMENT_ID"] + ".pid"), "w") as f:
        f.write(str(os.getpid()))
print("cuda:", repr(os.environ.get("CUDA_VISIBLE_DEVICES")), flush=True)
print("budget:", os.environ["VOICEDESK_TIME_BUDGET_S"], flush=True)
time.sleep(float(os.environ.get("TRAIN_SLEEP", config.SLEEP)))
print(f"val_bpb: {2.0 - config.WARMUP / 100:.4f}")
print("peak_vram_mb: 123.5")
sys.exit(getattr(config, "EXIT", 0))
"""

WORKER_MAIN = """\
import asyncio, json, signal, sys
from pathlib import Path
from voicedesk.config import Settings
from voicedesk.experiments.worker import Worker
from voicedesk.store import Store
args = json.loads(sys.argv[1])
async def main():
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    worker = Worker(Settings(**args["settings"]), Store(Path(args["db"])), ["cpu"], poll_s=0.05)
    await worker.run(stop)
asyncio.run(main())
"""


def git(repo: Path, *args: str) -> str:
    """Run git in the test repo and return its output."""
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True, text=True, check=True,
    )
    return done.stdout.strip()


@dataclass
class Env:
    """A repo, its settings, a store and a ledger for one test."""

    tmp: Path
    repo: Path
    store: Store
    settings: Settings
    ledger: Ledger
    pids: Path

    def configure(self, **experiments: Any) -> None:
        """Replace the [experiments] settings (and the ledger judging by them)."""
        self.settings = make_settings(self.tmp, self.repo, **experiments)
        self.ledger = Ledger(self.store, self.settings.experiments)

    def patch(self, **knobs: object) -> str:
        """A patch against the baseline that sets knobs in config.py."""
        config = self.repo / "config.py"
        original = config.read_text()
        lines = [line for line in original.splitlines() if line.split(" =")[0] not in knobs]
        config.write_text("\n".join([*lines, *(f"{k} = {v!r}" for k, v in knobs.items())]) + "\n")
        try:
            return git(self.repo, "diff") + "\n"
        finally:
            config.write_text(original)

    def submit(self, description: str, **fields: Any) -> Experiment:
        """Queue one experiment."""
        experiment, created = self.ledger.submit(Submission(description, "test", **fields))
        assert created
        return experiment

    def get(self, experiment: Experiment) -> Experiment:
        """The experiment as the ledger has it now."""
        found = self.ledger.get(experiment.id)
        assert found is not None
        return found

    def worker(self, gpus: list[str] | None = None) -> Worker:
        """An in-process worker on this store."""
        return Worker(self.settings, self.store, gpus or ["cpu"], poll_s=0.05)

    def run(self, until: Callable[[], bool], gpus: list[str] | None = None,
            timeout: float = 20.0) -> None:
        """Run a worker until `until()` holds, then stop it."""
        asyncio.run(run_worker(self.worker(gpus), until, timeout))

    def all_finished(self) -> bool:
        """Whether every experiment has ended."""
        return all(e.status in FINISHED for e in self.ledger.all())

    def pid(self, experiment: Experiment) -> int | None:
        """The pid the training script of an experiment wrote, if it started."""
        path = self.pids / f"{experiment.id}.pid"
        return int(path.read_text()) if path.exists() and path.read_text() else None


def make_settings(tmp: Path, repo: Path, **experiments: Any) -> Settings:
    """Settings with a fast lease and limits, the store's data in tmp/data."""
    values: dict[str, Any] = {
        "repo": str(repo), "command": "python3 train.py", "budget_s": 5, "hard_limit_s": 5,
        "lease_s": 2, "max_attempts": 2, **experiments,
    }
    return Settings(store={"data_dir": str(tmp / "data")}, stt={"device": "cpu"},
                    experiments=values)


async def run_worker(worker: Worker, until: Callable[[], bool], timeout: float) -> None:
    """Run `worker` until `until()` holds (or fail after `timeout`), then stop it."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    deadline = time.monotonic() + timeout
    try:
        while not until():
            assert time.monotonic() < deadline, f"timed out: {worker.ledger.counts()}"
            assert not task.done(), "the worker stopped by itself"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


def alive(pid: int | None) -> bool:
    """Whether a process exists and is not a zombie."""
    if pid is None:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_for(condition: Callable[[], bool], timeout: float) -> float:
    """Poll until `condition()` holds; the seconds it took."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, "condition not reached in time"
        time.sleep(0.02)
    return time.monotonic() - start


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """A fresh repo with train.py and config.py on main, a store, settings and a ledger."""
    repo, pids = tmp_path / "repo", tmp_path / "pids"
    repo.mkdir()
    pids.mkdir()
    (repo / "train.py").write_text(TRAIN)
    (repo / "config.py").write_text("WARMUP = 10\nSLEEP = 0.2\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "baseline")
    monkeypatch.setenv("TRAIN_PIDS", str(pids))
    monkeypatch.delenv("TRAIN_SLEEP", raising=False)
    store = Store(tmp_path / "v.db")
    settings = make_settings(tmp_path, repo)
    yield Env(tmp_path, repo, store, settings, Ledger(store, settings.experiments), pids)
    store.close()


def test_keep_then_better_keep_then_worse_discard(env: Env) -> None:
    base = git(env.repo, "rev-parse", "main")
    first = env.submit("as is")
    better = env.submit("more warmup", patch=env.patch(WARMUP=20))
    worse = env.submit("less warmup", patch=env.patch(WARMUP=5))
    env.run(env.all_finished)
    first, better, worse = env.get(first), env.get(better), env.get(worse)
    assert (first.status, first.metric_value, first.peak_vram_mb) == ("keep", 1.9, 123.5)
    assert (better.status, better.metric_value) == ("keep", 1.8)
    assert (worse.status, worse.metric_value) == ("discard", 1.95)
    assert first.commit_sha == base and first.gpu == "cpu" and first.shared_gpu == 0
    for experiment, warmup in ((better, 20), (worse, 5)):
        assert experiment.commit_sha and experiment.commit_sha != base
        assert git(env.repo, "cat-file", "-t", experiment.commit_sha) == "commit"
        assert f"WARMUP = {warmup}" in git(env.repo, "show", f"{experiment.commit_sha}:config.py")
        assert git(env.repo, "rev-parse", f"{experiment.commit_sha}^") == base
        message = git(env.repo, "log", "-1", "--format=%s", experiment.commit_sha)
        assert message == f"voicedesk experiment {experiment.id}: {experiment.description}"
    for experiment in (first, better, worse):
        assert experiment.log_path and experiment.attempts == 1
        text = Path(experiment.log_path).read_text()
        assert Path(experiment.log_path).name == f"exp-{experiment.id}-a1.log"
        assert "cuda: ''" in text and "budget: 5" in text and "val_bpb:" in text
    assert git(env.repo, "rev-parse", "main") == base  # advance_on_keep is off
    assert len(git(env.repo, "worktree", "list").splitlines()) == 1
    assert not list((env.tmp / "data" / "experiment-worktrees").glob("exp-*"))


def test_hard_limit_kills_the_group_and_crashes(env: Env) -> None:
    slow = env.submit("forever", patch=env.patch(SLEEP=60), budget_s=1, hard_limit_s=1)
    started = time.monotonic()
    env.run(env.all_finished)
    slow = env.get(slow)
    assert slow.status == "crash" and slow.attempts == 1
    assert slow.reason == "killed at the hard limit of 1 s"
    assert time.monotonic() - started < 8
    assert not alive(env.pid(slow))
    assert "run ended: timed out" in Path(slow.log_path or "").read_text()


def test_failing_script_is_retried_then_crashes(env: Env) -> None:
    failing = env.submit("broken", patch=env.patch(EXIT=1))
    env.run(env.all_finished)
    failing = env.get(failing)
    assert failing.status == "crash" and failing.attempts == 2
    assert failing.reason == "exited with code 1 (after 2 attempts)"
    logs = sorted(p.name for p in env.settings.experiment_logs_dir().glob(f"exp-{failing.id}-*"))
    assert logs == [f"exp-{failing.id}-a1.log", f"exp-{failing.id}-a2.log"]
    assert env.ledger.counts() == {"crash": 1}


def test_patch_that_does_not_apply_crashes_with_gits_reason(env: Env) -> None:
    bad = env.patch(WARMUP=30).replace("-WARMUP = 10", "-WARMUP = 99")
    broken = env.submit("stale patch", patch=bad)
    env.run(env.all_finished)
    broken = env.get(broken)
    assert broken.status == "crash" and broken.attempts == 2
    assert "does not apply" in (broken.reason or "") and "after 2 attempts" in (broken.reason or "")
    assert "patch does not apply" in Path(broken.log_path or "").read_text()


def test_cancel_while_running_kills_the_run(env: Env) -> None:
    long = env.submit("long", patch=env.patch(SLEEP=60), budget_s=60, hard_limit_s=60)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(env.worker().run(stop))
        while env.pid(long) is None:
            await asyncio.sleep(0.02)
        pid = env.pid(long)
        assert alive(pid) and env.get(long).status == "running"
        assert env.ledger.cancel(long.id, "changed my mind") is not None
        started = time.monotonic()
        while alive(pid):
            assert time.monotonic() - started < 3, "the run outlived its cancel"
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.wait_for(task, 10)

    asyncio.run(asyncio.wait_for(scenario(), 20))
    long = env.get(long)
    assert (long.status, long.reason) == ("cancelled", "changed my mind")
    assert long.log_path and Path(long.log_path).exists()


def test_stop_while_running_queues_it_again(env: Env) -> None:
    long = env.submit("long", patch=env.patch(SLEEP=60), budget_s=60, hard_limit_s=60)
    env.run(lambda: env.pid(long) is not None)
    long = env.get(long)
    assert long.status == "queued" and long.attempts == 1
    assert "stopped during the run" in (long.reason or "")
    assert not alive(env.pid(long))


def test_kill_9_of_a_worker_then_another_reruns_it(env: Env) -> None:
    exp = env.submit("survives", patch=env.patch(WARMUP=20))
    args = {"db": str(env.tmp / "v.db"),
            "settings": json.loads(env.settings.model_dump_json(include={"store", "experiments",
                                                                        "stt"}))}
    child = subprocess.Popen([sys.executable, "-c", WORKER_MAIN, json.dumps(args)],
                             env={**os.environ, "TRAIN_SLEEP": "60"})
    try:
        wait_for(lambda: env.pid(exp) is not None, 20)
    finally:
        child.kill()
        child.wait(10)
    orphan = env.pid(exp)
    assert env.get(exp).status == "running" and alive(orphan)
    (env.pids / f"{exp.id}.pid").unlink()
    env.run(lambda: env.get(exp).status in FINISHED)
    exp = env.get(exp)
    assert exp.status == "keep" and exp.attempts == 2 and exp.metric_value == 1.8
    assert not alive(orphan), "the dead worker's run was left behind"
    assert Path(exp.log_path or "").name == f"exp-{exp.id}-a2.log"


def test_expired_lease_of_a_remote_worker_crashes_without_attempts(env: Env) -> None:
    env.configure(max_attempts=1)
    lost = env.submit("lost")
    assert env.ledger.claim("elsewhere:1:abc", "0") is not None
    started = time.monotonic()
    env.run(lambda: env.get(lost).status in FINISHED)
    lost = env.get(lost)
    assert lost.status == "crash" and "lease expired" in (lost.reason or "")
    assert 1.5 < time.monotonic() - started < 6


def test_advance_on_keep_moves_the_baseline(env: Env) -> None:
    env.configure(advance_on_keep=True)
    first = env.submit("warmup 20", patch=env.patch(WARMUP=20))
    env.run(env.all_finished)
    assert git(env.repo, "rev-parse", "main") == env.get(first).commit_sha
    assert "WARMUP = 20" in (env.repo / "config.py").read_text()  # the checkout moved too
    second = env.submit("warmup 30", patch=env.patch(WARMUP=30))
    env.run(env.all_finished)
    second = env.get(second)
    assert second.status == "keep" and git(env.repo, "rev-parse", "main") == second.commit_sha
    assert git(env.repo, "rev-parse", "main^") == env.get(first).commit_sha
    worse = env.submit("warmup 25", patch=env.patch(WARMUP=25))
    env.run(env.all_finished)
    assert env.get(worse).status == "discard"
    assert git(env.repo, "rev-parse", "main") == second.commit_sha
    assert git(env.repo, "status", "--porcelain") == ""


def test_advance_baseline_refuses_a_non_fast_forward(env: Env) -> None:
    side = env.get(env.submit("side", patch=env.patch(WARMUP=20)))
    side = env.ledger.claim("t:1:x") or side
    workspace = prepare_workspace(side, env.tmp / "wt")
    git(env.repo, "commit", "-q", "--allow-empty", "-m", "main moved on")
    with pytest.raises(ExperimentError, match="not a fast-forward"):
        advance_baseline(env.repo, "main", workspace.commit_sha)


def test_two_gpus_run_two_experiments_at_once(env: Env) -> None:
    one = env.submit("one", patch=env.patch(SLEEP=0.8))
    two = env.submit("two", patch=env.patch(SLEEP=0.8, WARMUP=20))
    env.run(env.all_finished, gpus=["0", "1"])
    one, two = env.get(one), env.get(two)
    assert {one.gpu, two.gpu} == {"0", "1"}
    for experiment in (one, two):
        assert f"cuda: '{experiment.gpu}'" in Path(experiment.log_path or "").read_text()
    assert max(one.started_at or 0, two.started_at or 0) < min(
        one.finished_at or 0, two.finished_at or 0
    )


def test_no_repo_is_a_clear_error(env: Env) -> None:
    bare = Experiment(id=7, description="x", status="running", proposed_by="t", created_at=0.0)
    with pytest.raises(ExperimentError, match="experiment 7 has no repo: set"):
        prepare_workspace(bare, env.tmp / "wt")


def test_speech_gpu(tmp_path: Path) -> None:
    assert speech_gpu(Settings(stt={"device": "cpu"})) is None
    assert speech_gpu(Settings(stt={"device": "cuda"})) == "0"


def test_heartbeats_keep_a_long_run_from_a_watching_worker(env: Env) -> None:
    env.configure(lease_s=1)
    long = env.submit("longer than the lease", patch=env.patch(SLEEP=1.8))

    async def scenario() -> None:
        stop = asyncio.Event()
        first = asyncio.create_task(env.worker().run(stop))
        while env.get(long).status != "running":
            await asyncio.sleep(0.02)
        second = asyncio.create_task(env.worker().run(stop))  # releases expired leases
        while env.get(long).status not in FINISHED:
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(asyncio.gather(first, second), 10)

    asyncio.run(asyncio.wait_for(scenario(), 20))
    long = env.get(long)
    assert long.status == "keep" and long.attempts == 1


def test_an_error_in_one_run_does_not_stop_the_worker(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    def flaky(experiment: Experiment, root: Path) -> Any:
        if experiment.description == "unlucky":
            raise RuntimeError("boom")
        return prepare_workspace(experiment, root)

    monkeypatch.setattr("voicedesk.experiments.worker.prepare_workspace", flaky)
    unlucky, fine = env.submit("unlucky"), env.submit("fine")
    env.run(env.all_finished)
    unlucky, fine = env.get(unlucky), env.get(fine)
    assert unlucky.status == "crash" and unlucky.attempts == 2
    assert unlucky.reason == "worker error: boom (after 2 attempts)"
    assert fine.status == "keep"
