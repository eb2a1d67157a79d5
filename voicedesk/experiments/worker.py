"""The embedded GPU worker: one slot per GPU claims queued experiments from the ledger and runs
each in its own git worktree and process group, under a lease, a heartbeat and a hard limit.

Stopping: when `stop` is set, a slot that is running an experiment kills its process group and
finishes the attempt at once with the reason "worker ... stopped during the run", so the ledger
queues it again while attempts remain (else crash) instead of waiting for the lease to expire.
A slot cancelled as an asyncio task kills its process group and leaves the run to the lease
rules. Orphans of a dead worker (`release_orphans`) lose their leftover processes and worktree.
When a run ends, whatever is left in its process group is killed; its log stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from voicedesk.agents.processes import kill_group, signal_group
from voicedesk.agents.runner import owner_is_dead, runner_id
from voicedesk.config import Settings
from voicedesk.experiments.judge import read_log
from voicedesk.experiments.ledger import Ledger, RunResult
from voicedesk.experiments.workspace import (
    ExperimentError,
    Workspace,
    prepare_workspace,
    record_run,
    remove_workspace,
    workspace_path,
)
from voicedesk.store import Store
from voicedesk.types import Experiment

log = logging.getLogger(__name__)

KILL_GRACE_S = 3.0
"""How long a run's process group has between SIGTERM and SIGKILL."""

_LOG_TAIL_BYTES = 4 << 20
Ending = Literal["exited", "timed_out", "lost", "stopped"]


def speech_gpu(settings: Settings) -> str | None:
    """The GPU index the speech model uses ("0" on CUDA), or None when it runs on the CPU."""
    device = settings.stt.device
    if device == "cuda" or (device == "auto" and _cuda_devices() > 0):
        return "0"
    return None


def _cuda_devices() -> int:
    """How many CUDA devices ctranslate2 sees (0 without it)."""
    try:
        import ctranslate2

        return int(ctranslate2.get_cuda_device_count())
    except Exception:  # no ctranslate2, no driver: no GPU for speech
        return 0


def _group_alive(pgid: int, marker: str) -> bool:
    """Whether a live (non-zombie) process of group `pgid` has `marker` in its environment."""
    proc, needle = Path("/proc"), b"\0" + marker.encode() + b"\0"
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                return needle in b"\0" + (entry / "environ").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
    return False


def _note(log_path: Path, line: str, mode: str = "a") -> None:
    """Add one line of voicedesk's own to a run's log."""
    with contextlib.suppress(OSError), log_path.open(mode, encoding="utf-8") as file:
        file.write(f"voicedesk: {line}\n")


def _tail(log_path: Path) -> str:
    """The end of a run's log (where the metric lines are), as text."""
    try:
        with log_path.open("rb") as file:
            file.seek(max(0, file.seek(0, os.SEEK_END) - _LOG_TAIL_BYTES))
            return file.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


class Worker:
    """Runs queued experiments, one at a time on each of its GPUs, until told to stop."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        gpus: list[str],
        owner: str | None = None,
        poll_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """A worker for `gpus` (indexes, or "cpu" for a slot with no GPU) on the store's ledger."""
        self.settings, self.gpus, self.poll_s = settings, list(gpus), poll_s
        self.ledger = Ledger(store, settings.experiments, clock)
        self.owner = owner or runner_id()
        self.root = settings.data_dir() / "experiment-worktrees"
        self.logs_dir = settings.experiment_logs_dir()
        self._speech_gpu = speech_gpu(settings)

    async def run(self, stop: asyncio.Event) -> None:
        """Run one slot per GPU until `stop` is set (see the module docstring for what stops)."""
        await asyncio.gather(*(self._slot(gpu, stop) for gpu in self.gpus))

    async def _slot(self, gpu: str, stop: asyncio.Event) -> None:
        """Claim and run experiments on one GPU, polling when the queue is empty."""
        while not stop.is_set():
            try:
                ran = await self._step(gpu, stop)
            except Exception:
                log.exception("experiment worker slot %s failed; polling on", gpu)
                ran = False
            if not ran:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_s)

    async def _step(self, gpu: str, stop: asyncio.Event) -> bool:
        """Release orphans, then claim and run one experiment; whether there was one."""
        for orphan in self.ledger.release_orphans(owner_is_dead):
            log.warning("experiment %d: %s", orphan.id, orphan.reason)
            await asyncio.to_thread(self._reap, orphan)
        experiment = self.ledger.claim(self.owner, gpu, shared_gpu=gpu == self._speech_gpu)
        if experiment is None:
            return False
        await self._attempt(experiment, gpu, stop)
        return True

    def _reap(self, orphan: Experiment) -> None:
        """Kill what is left of a dead worker's run of `orphan` here and remove its worktree."""
        path = workspace_path(orphan, self.root)
        pgid_file = path.with_suffix(".pgid")
        with contextlib.suppress(OSError, ValueError):
            pgid = int(pgid_file.read_text())
            if _group_alive(pgid, f"VOICEDESK_EXPERIMENT_ID={orphan.id}"):
                signal_group(pgid, signal.SIGKILL)
        pgid_file.unlink(missing_ok=True)
        if path.exists():
            remove_workspace(orphan, Workspace(path=path, commit_sha=""))

    async def _attempt(self, experiment: Experiment, gpu: str, stop: asyncio.Event) -> None:
        """Run one claimed attempt and record how it ended; never raises an Exception."""
        log_path = self.logs_dir / f"exp-{experiment.id}-a{experiment.attempts}.log"
        try:
            result = await self._prepare_and_run(experiment, gpu, log_path, stop)
        except Exception as exc:
            log.exception("experiment %d: the worker failed", experiment.id)
            _note(log_path, f"worker error: {exc}")
            result = RunResult(None, None, None, str(log_path), reason=f"worker error: {exc}")
        try:
            await self._record(experiment, result)
        except Exception:
            log.exception("experiment %d: cannot record the result", experiment.id)

    async def _prepare_and_run(
        self, experiment: Experiment, gpu: str, log_path: Path, stop: asyncio.Event
    ) -> RunResult:
        """Prepare the worktree, run the command in it, and remove it again."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.ledger.set_log(experiment.id, str(log_path))
        _note(log_path, f"experiment {experiment.id} attempt {experiment.attempts} on gpu {gpu}"
              f" by {self.owner}", mode="w")
        try:
            workspace = await asyncio.to_thread(prepare_workspace, experiment, self.root)
        except ExperimentError as exc:
            _note(log_path, f"cannot prepare the workspace: {exc}")
            return RunResult(None, None, None, str(log_path), reason=str(exc))
        try:
            return await self._execute(experiment, workspace, gpu, log_path, stop)
        finally:
            await asyncio.to_thread(remove_workspace, experiment, workspace)

    def _environment(self, experiment: Experiment, gpu: str) -> dict[str, str]:
        """The run's environment: ours plus its GPU, id and time budget."""
        budget = experiment.budget_s or self.settings.experiments.budget_s
        return {
            **os.environ,
            "CUDA_VISIBLE_DEVICES": "" if gpu == "cpu" else gpu,
            "VOICEDESK_EXPERIMENT_ID": str(experiment.id),
            "VOICEDESK_TIME_BUDGET_S": f"{budget:g}",
        }

    async def _execute(
        self, experiment: Experiment, workspace: Workspace, gpu: str, log_path: Path,
        stop: asyncio.Event,
    ) -> RunResult:
        """Run the command in its own process group, watched, and read the log it wrote."""
        command = experiment.command or self.settings.experiments.command
        _note(log_path, f"commit {workspace.commit_sha}; running: {command}")
        pgid_file = workspace.path.with_suffix(".pgid")
        with log_path.open("ab") as output:
            process = await asyncio.create_subprocess_exec(
                "/bin/sh", "-c", command, cwd=workspace.path, stdin=asyncio.subprocess.DEVNULL,
                stdout=output, stderr=asyncio.subprocess.STDOUT,
                env=self._environment(experiment, gpu), start_new_session=True,
            )
        try:
            pgid_file.write_text(str(process.pid))
            ending = await self._watch(experiment, process, stop)
        except BaseException:
            await kill_group(process, KILL_GRACE_S)
            raise
        finally:
            signal_group(process.pid, signal.SIGKILL)  # whatever the run left behind
            pgid_file.unlink(missing_ok=True)
        if ending != "exited":
            _note(log_path, f"run ended: {ending.replace('_', ' ')}")
        reason = f"worker {self.owner} stopped during the run" if ending == "stopped" else None
        readings = read_log(await asyncio.to_thread(_tail, log_path), self.settings.experiments)
        return RunResult(
            exit_code=process.returncode, metric=readings.metric,
            peak_vram_mb=readings.peak_vram_mb, log_path=str(log_path),
            commit_sha=workspace.commit_sha, timed_out=ending == "timed_out", reason=reason,
        )

    async def _watch(
        self, experiment: Experiment, process: asyncio.subprocess.Process, stop: asyncio.Event
    ) -> Ending:
        """Wait for the run to end, heartbeating; kill it at the hard limit, on a lost lease
        (cancelled, or taken by another worker) or when the worker stops."""
        s, started = self.settings.experiments, time.monotonic()
        deadline = started + (experiment.hard_limit_s or s.hard_limit_s)
        beat_every = s.lease_s / 3
        next_beat, tick = started + beat_every, min(self.poll_s, beat_every)
        exited = asyncio.ensure_future(process.wait())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                left = deadline - time.monotonic()
                if left > 0:
                    await asyncio.wait({exited, stopping}, timeout=min(tick, left),
                                       return_when=asyncio.FIRST_COMPLETED)
                ending = self._ending(experiment.id, exited, stopping, deadline, next_beat)
                if ending == "exited":
                    return ending
                if ending is not None:
                    await kill_group(process, KILL_GRACE_S)
                    return ending
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + beat_every
        finally:
            stopping.cancel()
            exited.cancel()

    def _ending(
        self, experiment_id: int, exited: asyncio.Future[Any], stopping: asyncio.Future[Any],
        deadline: float, next_beat: float,
    ) -> Ending | None:
        """Why the run should end now, or None to keep watching (heartbeating when due)."""
        now = time.monotonic()
        if exited.done():
            return "exited"
        if stopping.done():
            return "stopped"
        if now >= deadline:
            return "timed_out"
        if now >= next_beat:
            return None if self.ledger.heartbeat(experiment_id, self.owner) else "lost"
        current = self.ledger.get(experiment_id)
        if current is None or current.status != "running" or current.lease_owner != self.owner:
            return "lost"
        return None

    async def _record(self, experiment: Experiment, result: RunResult) -> None:
        """Finish the attempt in the ledger; move the baseline on a keep when configured."""
        await record_run(self.ledger, self.owner, experiment, result)
