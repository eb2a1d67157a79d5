"""The job commands end to end, as separate processes on one store: say, run, jobs, job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from agent_helpers import make_repo
from live_process import voicedesk, voicedesk_env

from voicedesk.store import Store

WAIT = "sleep 60 & echo $! > child.pid; wait"


def _config(tmp_path: Path, repo: Path) -> Path:
    """A config with one shell agent 'infra' on `repo` and a store under tmp_path."""
    path = tmp_path / "voicedesk.toml"
    path.write_text(
        f'[store]\ndata_dir = "{tmp_path / "data"}"\n'
        '[runner]\npoll_s = 0.1\nlease_s = 5\n'
        f'[agents.infra]\nkind = "shell"\naliases = ["ops"]\nrepo = "{repo}"\n'
        "[agents.infra.commands]\n"
        '"run the tests" = "echo collected 3 items; echo \'3 passed in 0.02s\'"\n'
        '"note the runner" = "echo $PPID >> runs.txt; sleep 0.2"\n'
        f'"wait a while" = "{WAIT}"\n'
    )
    return path


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    """(config, repo)."""
    repo = make_repo(tmp_path / "repo")
    return _config(tmp_path, repo), repo


def _store(config: Path) -> Store:
    """The store the config points at."""
    return Store.in_dir(config.parent / "data")


def _until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait for `check` to hold, or fail the test."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


@pytest.fixture
def runner_process(tmp_path: Path, setup: tuple[Path, Path]) -> Iterator[subprocess.Popen[str]]:
    """`voicedesk run` in the background (SIGTERMed at the end)."""
    config, _ = setup
    process = _start_runner(tmp_path, config)
    yield process
    if process.poll() is None:
        process.terminate()
        process.wait(10)


def _start_runner(home: Path, config: Path) -> subprocess.Popen[str]:
    """Start `voicedesk run --json`."""
    return subprocess.Popen(
        [sys.executable, "-m", "voicedesk", "run", "--json", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env=voicedesk_env(home),
    )


def test_say_runs_the_shell_command_and_reports_the_result(
    tmp_path: Path, setup: tuple[Path, Path]
) -> None:
    config, _ = setup
    result = voicedesk(["say", "ops, run the tests"], tmp_path, config)
    assert result.returncode == 0, result.stderr
    assert "Job 1 queued for infra: run the tests." in result.stdout
    assert "Job 1 (infra) done: Run the tests succeeded in" in result.stdout
    assert result.stdout.rstrip().endswith(": 3 passed in 0.02s")
    shown = voicedesk(["job", "1", "--log"], tmp_path, config)
    assert shown.returncode == 0 and "collected 3 items" in shown.stdout
    assert "[exit code 0]" in shown.stdout


def test_say_no_run_only_queues(tmp_path: Path, setup: tuple[Path, Path]) -> None:
    config, _ = setup
    result = voicedesk(["say", "--no-run", "ops, run the tests"], tmp_path, config)
    assert result.returncode == 0, result.stderr
    assert _store(config).job(1).status == "queued"  # type: ignore[union-attr]


def test_a_task_outside_the_allow_list_fails_and_runs_nothing(
    tmp_path: Path, setup: tuple[Path, Path]
) -> None:
    config, repo = setup
    result = voicedesk(["say", "--json", "infra, delete the repository"], tmp_path, config)
    assert result.returncode == 0, result.stderr
    ended = [json.loads(line) for line in result.stdout.splitlines() if "job_ended" in line]
    assert ended[0]["status"] == "failed"
    assert ended[0]["error"].startswith('infra has no allowed command for "delete the repository"')
    assert sorted(p.name for p in repo.iterdir()) == [".git", "README.md"]


def test_stop_the_infra_agent_by_voice_reaches_the_running_command(
    tmp_path: Path, setup: tuple[Path, Path], runner_process: subprocess.Popen[str]
) -> None:
    config, repo = setup
    assert voicedesk(["say", "--no-run", "infra, wait a while"], tmp_path, config).returncode == 0
    pid_file = repo / "child.pid"
    _until(lambda: pid_file.exists() and pid_file.read_text().strip() != "")
    child = int(pid_file.read_text())
    stopped = voicedesk(["say", "stop the infra agent"], tmp_path, config)
    assert "Cancelled 1 job of infra: #1." in stopped.stdout, stopped.stdout + stopped.stderr
    _until(lambda: not _alive(child), timeout=10)
    store = _store(config)
    _until(lambda: any(e.message == "the agent stopped" for e in store.events(1)))
    assert store.job(1).status == "cancelled"  # type: ignore[union-attr]


def _alive(pid: int) -> bool:
    """Whether process `pid` exists (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split()[2] != "Z"


def test_two_runner_processes_run_each_job_once(tmp_path: Path, setup: tuple[Path, Path]) -> None:
    config, repo = setup
    store = _store(config)
    ids = [store.create_job("infra", "note the runner").id for _ in range(8)]
    first, second = _start_runner(tmp_path, config), _start_runner(tmp_path, config)
    try:
        _until(lambda: all(store.job(i).status == "done" for i in ids), timeout=60)  # type: ignore[union-attr]
    finally:
        for process in (first, second):
            process.terminate()
            process.wait(10)
    lines = (repo / "runs.txt").read_text().split()
    assert len(lines) == 8, "each job ran exactly once"
    assert all(job.attempts == 1 for job in store.jobs())


def test_a_restarted_runner_fails_what_a_killed_runner_left_running(
    tmp_path: Path, setup: tuple[Path, Path]
) -> None:
    config, repo = setup
    killed = _start_runner(tmp_path, config)
    store = _store(config)
    job = store.create_job("infra", "wait a while")
    _until(lambda: (repo / "child.pid").exists() and (repo / "child.pid").read_text() != "")
    killed.kill()  # SIGKILL: no clean-up at all
    killed.wait(10)
    os.kill(int((repo / "child.pid").read_text()), signal.SIGKILL)  # its orphaned command
    assert store.job(job.id).status == "running"  # type: ignore[union-attr]
    restarted = _start_runner(tmp_path, config)
    try:
        _until(lambda: store.job(job.id).status == "failed", timeout=10)  # type: ignore[union-attr]
    finally:
        restarted.terminate()
        restarted.wait(10)
    error = store.job(job.id).error or ""  # type: ignore[union-attr]
    assert error.startswith("the runner running it (") and error.endswith("its process is gone")


def test_sigterm_stops_the_runner_cleanly(
    tmp_path: Path, setup: tuple[Path, Path], runner_process: subprocess.Popen[str]
) -> None:
    config, repo = setup
    store = _store(config)
    job = store.create_job("infra", "wait a while")
    _until(lambda: store.job(job.id).status == "running")  # type: ignore[union-attr]
    _until(lambda: (repo / "child.pid").exists() and (repo / "child.pid").read_text() != "")
    runner_process.send_signal(signal.SIGTERM)
    assert runner_process.wait(15) == 0
    ended = store.job(job.id)
    assert ended is not None and (ended.status, ended.error) == (
        "failed", "stopped: the runner stopped"
    )
    assert not _alive(int((repo / "child.pid").read_text()))
    events = [json.loads(line) for line in (runner_process.stdout.read() or "").splitlines()]  # type: ignore[union-attr]
    assert {"job": job.id, "kind": "tool"}.items() <= next(
        e for e in events if e["kind"] == "tool"
    ).items()


def test_jobs_follow_prints_new_events_live(tmp_path: Path, setup: tuple[Path, Path]) -> None:
    config, _ = setup
    follower = subprocess.Popen(
        [sys.executable, "-m", "voicedesk", "jobs", "--follow", "--json", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env=voicedesk_env(tmp_path),
    )
    try:
        time.sleep(1.5)  # let it start and read where the events end
        assert voicedesk(["say", "ops, run the tests"], tmp_path, config).returncode == 0
        time.sleep(1.0)
    finally:
        follower.send_signal(signal.SIGINT)
        out, err = follower.communicate(timeout=10)
    assert follower.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    messages = [e["message"] for e in events if e["kind"] == "status"]
    assert messages[0] == "queued" and messages[-1].startswith("done: Run the tests succeeded")


def test_job_that_does_not_exist_is_one_line(tmp_path: Path, setup: tuple[Path, Path]) -> None:
    config, _ = setup
    result = voicedesk(["job", "99"], tmp_path, config)
    assert result.returncode == 1
    assert result.stderr.strip() == "voicedesk: error: there is no job 99"


def test_without_a_key_llm_jobs_fail_fast_naming_it(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    config = tmp_path / "voicedesk.toml"
    config.write_text(
        f'[store]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[agents.frontend]\nkind = "coding"\nrepo = "{repo}"\n'
        '[agents.research]\nkind = "research"\n'
    )
    for command in ("frontend, add a dark mode toggle", "research, compare warmup schedules"):
        began = time.monotonic()
        result = voicedesk(["say", command], tmp_path, config)
        assert result.returncode == 0, result.stderr
        assert time.monotonic() - began < 20
        assert ") failed: " in result.stdout and "ANTHROPIC_API_KEY" in result.stdout, result.stdout
    assert not (tmp_path / "data" / "worktrees").exists(), "no worktree for a job that cannot run"


def test_say_shows_only_the_events_of_the_job_it_made(
    tmp_path: Path, setup: tuple[Path, Path]
) -> None:
    config, _ = setup
    assert voicedesk(["say", "ops, run the tests"], tmp_path, config).returncode == 0
    second = voicedesk(["say", "--json", "ops, run the tests"], tmp_path, config)
    assert second.returncode == 0, second.stderr
    events = [json.loads(line) for line in second.stdout.splitlines()[1:]]
    assert {e["job"] if "job" in e else e["id"] for e in events} == {2}
    assert next(e["message"] for e in events if e.get("kind") == "status") == "queued"
