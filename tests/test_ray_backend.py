"""The Ray dispatcher against a real single-node Ray cluster on 127.0.0.1 (one fake GPU): keep,
discard, the hard limit, cancel, and a resubmitted attempt adopted instead of run twice."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from voicedesk.config import Settings
from voicedesk.experiments.ledger import Ledger, Submission
from voicedesk.experiments.ray_backend import RayDispatcher
from voicedesk.experiments.ray_jobs import cluster_gpus, connect, one_line, submission_id
from voicedesk.store import Store
from voicedesk.types import Experiment

pytestmark = [pytest.mark.ray]

TRAIN = """\
import os, time
import config
with open(config.RUNS, "a") as runs:
    runs.write(os.environ["VOICEDESK_EXPERIMENT_ID"] + "\\n")
print("budget:", os.environ["VOICEDESK_TIME_BUDGET_S"], flush=True)
if config.FAIL:
    raise SystemExit("bad knob")
time.sleep(config.SLEEP)
print(f"val_bpb: {config.LR * 10:.4f}")
print("peak_vram_mb: 123.5")
"""


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def local_ray_cluster(num_gpus: int = 1, num_cpus: int = 2) -> Iterator[str]:
    """A private Ray head on 127.0.0.1 (fake GPUs), stopped on exit; yields its dashboard URL.
    RuntimeError, with Ray's own words, when it cannot start."""
    ray = Path(sys.executable).with_name("ray")
    temp = Path(tempfile.mkdtemp(prefix="vdray-"))  # short: Ray's socket paths must fit
    dashboard = _free_port()
    ports = {name: _free_port() for name in (
        "port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port",
        "runtime-env-agent-port", "metrics-export-port", "ray-client-server-port")}
    command = [str(ray), "start", "--head", "--block", "--disable-usage-stats",
               "--include-dashboard=true", "--dashboard-host=127.0.0.1",
               f"--dashboard-port={dashboard}", f"--num-cpus={num_cpus}",
               f"--num-gpus={num_gpus}", f"--temp-dir={temp}",
               *(f"--{name}={port}" for name, port in ports.items())]
    # Loopback only: without this Ray advertises (and listens on) the host's outward address.
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    log = temp / "ray-start.log"
    with log.open("w") as output:
        head = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_until_ready(f"http://127.0.0.1:{dashboard}", head, log, num_gpus)
        yield f"http://127.0.0.1:{dashboard}"
    finally:
        head.send_signal(signal.SIGTERM)  # `ray start --block` drains and stops what it started
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(10)
        shutil.rmtree(temp, ignore_errors=True)


def _wait_until_ready(address: str, head: subprocess.Popen[bytes], log: Path,
                     num_gpus: int) -> None:
    """Wait until the Job Submission API answers and the node shows its GPUs; RuntimeError
    saying why not."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if head.poll() is not None:
            raise RuntimeError(f"ray start exited with {head.returncode}: "
                               f"{log.read_text()[-1500:]}")
        try:
            connect(address).list_jobs()
            if cluster_gpus(address) >= num_gpus:
                return
        except Exception:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the Ray Job Submission API at {address} did not answer in 90 s: "
                       f"{log.read_text()[-1500:]}")


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A private single-node Ray cluster (2 CPUs, 1 fake GPU) for the module; skips without."""
    pytest.importorskip("ray.job_submission", reason="Ray is not installed (pip install -e .[ray])")
    cluster = local_ray_cluster()
    try:
        address = cluster.__enter__()
    except RuntimeError as exc:
        pytest.skip(f"cannot start a local Ray cluster: {exc}")
    try:
        yield address
    finally:
        cluster.__exit__(None, None, None)


def _git(repo: Path, *args: str) -> str:
    """Run git in `repo`; its stdout."""
    done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                          capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repo on `main` with a tiny training script reading knobs from config.py."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.py").write_text(TRAIN)
    (repo / "config.py").write_text(_config(tmp_path))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "baseline")
    return repo


def _config(tmp_path: Path, lr: float = 0.5, sleep: float = 0.0, fail: bool = False) -> str:
    """config.py with these knobs (RUNS: where each run notes that it started)."""
    return (f"RUNS = {str(tmp_path / 'runs.txt')!r}\nLR = {lr}\nSLEEP = {sleep}\n"
            f"FAIL = {fail}\n")


def _patch(repo: Path, **knobs: Any) -> str:
    """The diff that sets these knobs in config.py (the checkout is left unchanged)."""
    (repo / "config.py").write_text(_config(repo.parent, **knobs))
    diff = _git(repo, "diff")
    _git(repo, "checkout", "--", "config.py")
    return diff


def _settings(tmp_path: Path, address: str, repo: Path, **experiments: Any) -> Settings:
    """Settings with a private data dir and the Ray backend at `address`."""
    values = {"backend": "ray", "ray_address": address, "repo": repo, "budget_s": 5.0,
              "hard_limit_s": 60.0, "lease_s": 3.0, "command": f"{sys.executable} train.py",
              **experiments}
    return Settings(store={"data_dir": tmp_path / "data"}, experiments=values)


def _runs(tmp_path: Path) -> list[int]:
    """The experiment ids of the runs that started, in order."""
    path = tmp_path / "runs.txt"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


async def _drive(dispatcher: RayDispatcher, done: Callable[[], Awaitable[bool]],
                 timeout: float = 60.0) -> float:
    """Run the dispatcher until `done()` (checked every 0.1 s), then stop it; seconds taken."""
    stop, started = asyncio.Event(), time.monotonic()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        while not await done():
            assert time.monotonic() - started < timeout, "the dispatcher took too long"
            assert not task.done(), "the dispatcher ended by itself"
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    return time.monotonic() - started


def _ended(ledger: Ledger, *ids: int) -> Callable[[], Awaitable[bool]]:
    """A `done` check: every experiment of `ids` has a final status."""
    async def check() -> bool:
        return all(_status(ledger, i) in ("keep", "discard", "crash", "cancelled") for i in ids)
    return check


def _status(ledger: Ledger, experiment_id: int) -> str:
    """The ledger status of one experiment."""
    found = ledger.get(experiment_id)
    assert found is not None
    return found.status


def _get(ledger: Ledger, experiment_id: int) -> Experiment:
    """One experiment, which must exist."""
    found = ledger.get(experiment_id)
    assert found is not None
    return found


def _submit_at(ledger: Ledger, first_id: int, description: str, patch: str,
               **fields: Any) -> Experiment:
    """Submit an experiment with an id of at least `first_id`: the tests share one cluster, and
    each test's ids (so Ray submission ids) differ from the others'."""
    while True:
        exp, _ = ledger.submit(Submission(description, "test", patch=patch, **fields))
        if exp.id >= first_id:
            return exp
        ledger.cancel(exp.id, "filler")


def _setup(tmp_path: Path, address: str, repo: Path, **experiments: Any,
           ) -> tuple[Settings, Store, Ledger, RayDispatcher]:
    """Settings, a store, its ledger and a dispatcher polling every 0.2 s."""
    settings = _settings(tmp_path, address, repo, **experiments)
    store = Store.in_dir(settings.data_dir())
    dispatcher = RayDispatcher(settings, store, poll_s=0.2)
    return settings, store, Ledger(store, settings.experiments), dispatcher


def test_keep_then_discard_then_failure(tmp_path: Path, ray_address: str, repo: Path) -> None:
    settings, store, ledger, dispatcher = _setup(tmp_path, ray_address, repo, max_attempts=1)
    good = _submit_at(ledger, 1, "lr 0.3", _patch(repo, lr=0.3))
    worse = _submit_at(ledger, 2, "lr 0.9", _patch(repo, lr=0.9))
    broken = _submit_at(ledger, 3, "broken", _patch(repo, fail=True))
    took = asyncio.run(_drive(dispatcher, _ended(ledger, good.id, worse.id, broken.id)))
    kept, discarded, crashed = (_get(ledger, i) for i in (good.id, worse.id, broken.id))
    assert (kept.status, kept.metric_value, kept.peak_vram_mb) == ("keep", 3.0, 123.5)
    assert (discarded.status, discarded.metric_value) == ("discard", 9.0)
    assert crashed.status == "crash"
    assert f"ray job {submission_id(crashed)} failed" in (crashed.reason or "")
    assert "exit code 1" in (crashed.reason or "")
    assert kept.worker == dispatcher.owner and kept.backend == "ray" and kept.gpu == "ray"
    assert (dispatcher.job_gpus, dispatcher.slots) == (1.0, 1)  # one job per (fake) GPU
    assert kept.commit_sha and len(kept.commit_sha) == 40
    text = Path(kept.log_path or "").read_text()
    assert text.startswith(f"voicedesk: experiment {good.id} attempt 1 as ray job "
                           f"voicedesk-exp-{good.id}-a1 at {ray_address}")
    assert "budget: 5" in text and "val_bpb: 3.0000" in text
    assert _runs(tmp_path) == [good.id, worse.id, broken.id]
    assert not any((settings.data_dir() / "experiment-worktrees").glob("exp-*"))
    store.close()
    print(f"3 runs in {took:.1f} s")


def test_hard_limit_crashes(tmp_path: Path, ray_address: str, repo: Path) -> None:
    _, store, ledger, dispatcher = _setup(tmp_path, ray_address, repo)
    slow = _submit_at(ledger, 10, "slow", _patch(repo, sleep=120), budget_s=1.0,
                      hard_limit_s=2.0)
    took = asyncio.run(_drive(dispatcher, _ended(ledger, slow.id)))
    done = _get(ledger, slow.id)
    assert done.status == "crash", done.reason
    assert done.reason == f"killed at the hard limit of 2 s (ray job {submission_id(done)})"
    assert done.metric_value is None
    info = connect(ray_address).get_job_info(submission_id(done))
    assert str(info.status.value) == "STOPPED"
    assert "run ended: timed out" in Path(done.log_path or "").read_text()
    store.close()
    print(f"hard limit in {took:.1f} s")


def test_cancel_while_running_stops_the_job(tmp_path: Path, ray_address: str, repo: Path) -> None:
    _, store, ledger, dispatcher = _setup(tmp_path, ray_address, repo)
    slow = _submit_at(ledger, 20, "slow", _patch(repo, sleep=120))

    async def cancel_once_running() -> bool:
        if _status(ledger, slow.id) == "running" and _runs(tmp_path):
            ledger.cancel(slow.id, "cancelled by voice")
        if _status(ledger, slow.id) != "cancelled":
            return False
        return dispatcher.active == 0  # the dispatcher has stopped the job and let go

    took = asyncio.run(_drive(dispatcher, cancel_once_running))
    done = _get(ledger, slow.id)
    assert (done.status, done.reason) == ("cancelled", "cancelled by voice")
    info = connect(ray_address).get_job_info(submission_id(done))
    assert str(info.status.value) == "STOPPED"
    assert "run ended: lost" in Path(done.log_path or "").read_text()
    store.close()
    print(f"cancel in {took:.1f} s")


def test_stopping_the_dispatcher_stops_the_job_and_requeues(
    tmp_path: Path, ray_address: str, repo: Path
) -> None:
    _, store, ledger, dispatcher = _setup(tmp_path, ray_address, repo)
    slow = _submit_at(ledger, 50, "slow", _patch(repo, sleep=120))

    async def running() -> bool:
        return _status(ledger, slow.id) == "running" and bool(_runs(tmp_path))

    took = asyncio.run(_drive(dispatcher, running))  # then stop the dispatcher
    done = _get(ledger, slow.id)
    sid = submission_id(done)
    assert (done.status, done.attempts) == ("queued", 1)
    assert done.reason == (f"attempt 1 failed: dispatcher {dispatcher.owner} stopped during "
                           f"the run (ray job {sid})")
    assert str(connect(ray_address).get_job_info(sid).status.value) == "STOPPED"
    store.close()
    print(f"dispatcher stop in {took:.1f} s")


def test_resubmission_is_adopted_not_run_twice(
    tmp_path: Path, ray_address: str, repo: Path
) -> None:
    _, store, ledger, dispatcher = _setup(tmp_path, ray_address, repo)
    exp = _submit_at(ledger, 30, "lr 0.2", _patch(repo, lr=0.2))
    sid = f"voicedesk-exp-{exp.id}-a1"  # what the dispatcher will submit for attempt 1
    client = connect(ray_address)
    client.submit_job(  # as if an earlier try got through but its answer was lost
        entrypoint=f"{sys.executable} train.py", submission_id=sid,
        runtime_env={"working_dir": str(repo), "env_vars": {
            "VOICEDESK_EXPERIMENT_ID": str(exp.id), "VOICEDESK_TIME_BUDGET_S": "5"}},
        metadata={"voicedesk_experiment": str(exp.id),
                  "voicedesk_created_at": repr(exp.created_at)},
    )
    with pytest.raises(RuntimeError, match="already exists"):
        client.submit_job(entrypoint="true", submission_id=sid)
    took = asyncio.run(_drive(dispatcher, _ended(ledger, exp.id)))
    done = _get(ledger, exp.id)
    assert (done.status, done.attempts) == ("keep", 1)
    assert done.metric_value == 5.0  # the adopted job ran the baseline's knob (lr 0.5)
    assert _runs(tmp_path) == [exp.id]
    assert f"adopted the existing ray job {sid}" in Path(done.log_path or "").read_text()
    store.close()
    print(f"adopted in {took:.1f} s")


def test_job_of_another_ledger_is_left_alone(tmp_path: Path, ray_address: str, repo: Path) -> None:
    _, store, ledger, dispatcher = _setup(tmp_path, ray_address, repo)
    exp = _submit_at(ledger, 40, "lr 0.4", _patch(repo, lr=0.4))
    sid = f"voicedesk-exp-{exp.id}-a1"
    client = connect(ray_address)
    client.submit_job(entrypoint="sleep 30", submission_id=sid,  # a reset store's, say
                      metadata={"voicedesk_experiment": str(exp.id),
                                "voicedesk_created_at": "1.0"})
    took = asyncio.run(_drive(dispatcher, _ended(ledger, exp.id)))
    done = _get(ledger, exp.id)
    assert (done.status, done.metric_value) == ("keep", 4.0)
    text = Path(done.log_path or "").read_text()
    assert f"ray job {sid} belongs to another ledger" in text
    assert f"Running entrypoint for job {sid}-" in text  # under its fallback id
    assert str(client.get_job_status(sid).value) == "RUNNING"  # not stopped, not adopted
    client.stop_job(sid)
    assert _runs(tmp_path) == [exp.id]
    store.close()
    print(f"another ledger's job left alone in {took:.1f} s")


def test_unreachable_cluster_claims_nothing(tmp_path: Path, repo: Path) -> None:
    pytest.importorskip("ray.job_submission", reason="Ray is not installed (pip install -e .[ray])")
    address = f"http://127.0.0.1:{_free_port()}"
    _, store, ledger, dispatcher = _setup(tmp_path, address, repo)
    exp, _ = ledger.submit(Submission("lr 0.3", "test", patch=_patch(repo, lr=0.3)))

    async def later() -> bool:
        await asyncio.sleep(1.5)
        return True

    asyncio.run(_drive(dispatcher, later))
    assert _status(ledger, exp.id) == "queued"
    assert dispatcher.last_error.startswith("ConnectionError: Failed to connect to Ray")
    store.close()


def test_one_line_keeps_the_telling_line() -> None:
    served = RuntimeError(
        "Request failed with status code 500: Traceback (most recent call last):\n"
        '  File "job_head.py", line 419, in submit_job\n'
        "RuntimeError: Request failed with status code 400: Traceback (most recent call last):\n"
        "ValueError: Job with submission_id voicedesk-exp-1-a1 already exists.\n.\n.")
    assert one_line(served) == (
        "ValueError: Job with submission_id voicedesk-exp-1-a1 already exists.")
    assert one_line(ConnectionError("No answer\nmore")) == "ConnectionError: No answer"
    assert one_line(TimeoutError()) == "TimeoutError"
    assert len(one_line(OSError("x" * 1000))) == 240
