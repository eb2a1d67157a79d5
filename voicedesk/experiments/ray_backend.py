"""The Ray backend: a dispatcher that claims queued experiments from this store's ledger and runs
each as a Ray Job, under the embedded worker's rules (lease, heartbeat, hard limit, cancel).

An attempt is submitted as `voicedesk-exp-<id>-a<attempt>` with its git worktree as working_dir,
so Ray rejects a resubmission; the dispatcher then adopts the existing job (never runs it twice).
Its log is pulled into the usual log file, whose first line names the job. By default one job
runs per cluster GPU, so claimed experiments do not queue inside Ray. A Ray error becomes a
one-line reason, never a crash. Ray is imported only here, when the dispatcher starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicedesk.agents.runner import owner_is_dead, runner_id
from voicedesk.config import Settings
from voicedesk.experiments.judge import read_log
from voicedesk.experiments.ledger import Ledger, RunResult
from voicedesk.experiments.ray_jobs import (
    JobState,
    cluster_gpus,
    connect,
    is_mine,
    job_identity,
    job_state,
    one_line,
    stop_quietly,
    submission_id,
    submission_ids,
)
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

TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
"""Ray job statuses that do not change again."""

CALL_TIMEOUT_S = 60.0
"""How long one Ray API call may take (a submission uploads the worktree: ten times this)."""

STOP_WAIT_S = 20.0
"""How long a stopped job has to reach STOPPED before the dispatcher moves on."""

UNREACHABLE_S = 120.0
"""How long polling a running job may fail before the attempt is given up."""

RESIZE_EVERY_S = 30.0
"""How often the dispatcher re-reads the cluster's GPUs (nodes join and leave)."""


@dataclass
class _Run:
    """One submitted attempt: its Ray job and its log file (voicedesk's lines around Ray's)."""

    experiment: Experiment
    sid: str
    log_path: Path
    notes: list[str] = field(default_factory=list)
    logs: str = ""
    lost: bool = False
    footer: list[str] = field(default_factory=list)

    def note(self, line: str, end: bool = False) -> None:
        """Add a line of voicedesk's own (before Ray's log, or after it at the end)."""
        (self.footer if end else self.notes).append(f"voicedesk: {line}\n")
        self.write()

    def write(self) -> None:
        """Rewrite the log file: notes, the job's log so far, closing notes."""
        text = "".join(self.notes) + self.logs + "".join(self.footer)
        with contextlib.suppress(OSError):
            partial = self.log_path.with_suffix(".part")
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, self.log_path)


class RayDispatcher:
    """Runs queued experiments as Ray Jobs on a cluster until told to stop."""

    def __init__(
        self, settings: Settings, store: Store, owner: str | None = None, poll_s: float = 1.0,
        client: Any = None, num_gpus: float | None = None, max_concurrent: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """A dispatcher on the store's ledger; `num_gpus` per job (None: 1 if the cluster has
        GPUs, else 0) and `max_concurrent` jobs (None: the cluster's GPUs / num_gpus, or 1)."""
        self.settings, self.poll_s, self.client = settings, poll_s, client
        self.ledger = Ledger(store, settings.experiments, clock)
        self.owner = owner or runner_id()
        self.root = settings.data_dir() / "experiment-worktrees"
        self.logs_dir = settings.experiment_logs_dir()
        self.num_gpus, self.max_concurrent = num_gpus, max_concurrent
        self.job_gpus, self.slots = 0.0, 0
        self._sized_at = -RESIZE_EVERY_S
        self._runs: set[asyncio.Task[None]] = set()
        self.last_error = ""  # the one-line error that keeps it from claiming, if any

    @property
    def active(self) -> int:
        """How many attempts are in flight."""
        return len(self._runs)

    @property
    def address(self) -> str:
        """The Ray dashboard address jobs go to."""
        found = getattr(self.client, "get_address", None)
        return str(found()) if callable(found) else str(self.settings.experiments.ray_address)

    async def _call(self, fn: Callable[..., Any], *args: Any, timeout: float = CALL_TIMEOUT_S,
                    **kwargs: Any) -> Any:
        """A blocking Ray call in a thread, bounded in time."""
        return await asyncio.wait_for(asyncio.to_thread(fn, *args, **kwargs), timeout)

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and dispatch experiments until `stop` is set, then wait for the runs to end."""
        try:
            while not stop.is_set():
                try:
                    await self._tick(stop)
                    self.last_error = ""
                except Exception as exc:  # Ray down, not installed, misconfigured: say, retry
                    if one_line(exc) != self.last_error:
                        self.last_error = one_line(exc)
                        log.warning("ray dispatcher: %s; retrying", self.last_error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_s)
        except asyncio.CancelledError:  # each run stops its Ray job and leaves it to the lease
            for task in self._runs:
                task.cancel()
            raise
        finally:
            if self._runs:
                await asyncio.gather(*self._runs, return_exceptions=True)

    async def _tick(self, stop: asyncio.Event) -> None:
        """Connect and size the cluster when due, release orphans, fill the free slots."""
        if self.client is None:
            self.client = await self._call(connect, self.settings.experiments.ray_address)
        if time.monotonic() - self._sized_at >= RESIZE_EVERY_S:
            gpus = await self._call(cluster_gpus, self.address)
            self.job_gpus = self.num_gpus if self.num_gpus is not None else float(gpus >= 1)
            fits = int(gpus // self.job_gpus) if self.job_gpus > 0 else 1
            self.slots = self.max_concurrent or fits
            self._sized_at = time.monotonic()
            if self.slots < 1:
                raise ExperimentError(f"the cluster has {gpus:g} GPUs; each job needs "
                                      f"{self.job_gpus:g}: nothing is claimed")
        for orphan in self.ledger.release_orphans(owner_is_dead):
            log.warning("experiment %d: %s", orphan.id, orphan.reason)
            await self._reap(orphan)
        while len(self._runs) < self.slots and not stop.is_set():
            experiment = self.ledger.claim(self.owner, "ray")
            if experiment is None:
                return
            task = asyncio.create_task(self._attempt(experiment, stop))
            self._runs.add(task)
            task.add_done_callback(self._runs.discard)

    async def _reap(self, orphan: Experiment) -> None:
        """Stop what is left of a dead dispatcher's Ray job for `orphan`; drop its worktree."""
        for sid in submission_ids(orphan):
            with contextlib.suppress(Exception):
                if is_mine(job_state(await self._call(self.client.get_job_info, sid)), orphan):
                    await self._call(self.client.stop_job, sid)
        path = workspace_path(orphan, self.root)
        if path.exists():
            await asyncio.to_thread(remove_workspace, orphan, Workspace(path, ""))

    async def _attempt(self, experiment: Experiment, stop: asyncio.Event) -> None:
        """Run one claimed attempt and record how it ended; never raises an Exception."""
        run = _Run(experiment, submission_id(experiment),
                   self.logs_dir / f"exp-{experiment.id}-a{experiment.attempts}.log")
        beat = asyncio.create_task(self._heartbeat(run))
        try:
            result = await self._prepare_and_run(run, stop)
        except asyncio.CancelledError:  # the dispatcher's task was cancelled: stop the job
            asyncio.get_running_loop().run_in_executor(None, stop_quietly, self.client, run.sid)
            raise
        except Exception as exc:
            log.exception("experiment %d: the dispatcher failed", experiment.id)
            reason = f"ray job {run.sid}: dispatcher error: {one_line(exc)}"
            run.note(reason, end=True)
            result = RunResult(None, None, None, str(run.log_path), reason=reason)
        finally:
            beat.cancel()
        try:
            await self._record(experiment, result)
        except Exception:
            log.exception("experiment %d: cannot record the result", experiment.id)

    async def _heartbeat(self, run: _Run) -> None:
        """Renew the lease every third of it until the run ends or the lease is lost."""
        while not run.lost:
            await asyncio.sleep(self.settings.experiments.lease_s / 3)
            try:
                run.lost = not self.ledger.heartbeat(run.experiment.id, self.owner)
            except Exception as exc:  # a busy store: try again at the next beat
                log.warning("experiment %d: heartbeat failed: %s", run.experiment.id, exc)

    async def _prepare_and_run(self, run: _Run, stop: asyncio.Event) -> RunResult:
        """Prepare the worktree, run the job from it, and remove it again."""
        experiment = run.experiment
        run.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.ledger.set_log(experiment.id, str(run.log_path))
        run.note(f"experiment {experiment.id} attempt {experiment.attempts} as ray job {run.sid}"
                 f" at {self.address} by {self.owner}")
        try:
            workspace = await asyncio.to_thread(prepare_workspace, experiment, self.root)
        except ExperimentError as exc:
            run.note(f"cannot prepare the workspace: {exc}")
            return RunResult(None, None, None, str(run.log_path), reason=str(exc))
        try:
            return await self._execute(run, workspace, stop)
        finally:
            await asyncio.to_thread(remove_workspace, experiment, workspace)

    async def _submit(self, run: _Run, workspace: Workspace) -> str | None:
        """Submit the attempt (or adopt the job Ray already has under its id); why not, if not."""
        experiment, s = run.experiment, self.settings.experiments
        command = experiment.command or s.command
        run.note(f"commit {workspace.commit_sha}; submitting: {command}")
        env = {"VOICEDESK_EXPERIMENT_ID": str(experiment.id), "PYTHONUNBUFFERED": "1",
               "VOICEDESK_TIME_BUDGET_S": f"{experiment.budget_s or s.budget_s:g}"}
        for run.sid in submission_ids(experiment):
            try:
                await self._call(
                    self.client.submit_job, timeout=10 * CALL_TIMEOUT_S, entrypoint=command,
                    submission_id=run.sid, entrypoint_num_gpus=self.job_gpus,
                    runtime_env={"working_dir": str(workspace.path), "env_vars": env},
                    metadata={**job_identity(experiment), "voicedesk_owner": self.owner},
                )
                return None
            except Exception as exc:
                rejected = one_line(exc)
            try:
                state = job_state(await self._call(self.client.get_job_info, run.sid))
            except Exception:
                run.note(f"ray rejected the job: {rejected}")
                return f"ray job {run.sid} not submitted: {rejected}"
            if is_mine(state, experiment):  # a resubmission: adopt it, never run it twice
                run.note(f"adopted the existing ray job {run.sid} ({state.status}); "
                         f"ray: {rejected}")
                return None
            run.note(f"ray job {run.sid} belongs to another ledger (an older store?)")
        return f"ray job {run.sid} belongs to another ledger"

    async def _execute(self, run: _Run, workspace: Workspace, stop: asyncio.Event) -> RunResult:
        """Submit the job, watch it to its end, and read the metric from its log."""
        failure = await self._submit(run, workspace)
        timed_out, state = False, JobState("NOT SUBMITTED")
        if failure is None:
            ending, state = await self._watch(run, stop)
            timed_out = ending == "timed out"
            failure = self._failure(run, ending, state)
            if ending != "ended":
                run.note(f"run ended: {ending}; ray job {state.status}", end=True)
        readings = read_log(run.logs, self.settings.experiments)
        exit_code = state.exit_code
        if exit_code is None and state.status in ("SUCCEEDED", "FAILED"):
            exit_code = 0 if state.status == "SUCCEEDED" else 1
        return RunResult(
            exit_code=exit_code, metric=readings.metric, peak_vram_mb=readings.peak_vram_mb,
            log_path=str(run.log_path), commit_sha=workspace.commit_sha, timed_out=timed_out,
            reason=failure,
        )

    def _failure(self, run: _Run, ending: str, state: JobState) -> str | None:
        """Why an attempt failed (naming its Ray job), or None when it ran to the end."""
        limit = run.experiment.hard_limit_s or self.settings.experiments.hard_limit_s
        text = state.message.split(", last available logs")[0].strip() or state.status
        message = text.splitlines()[0][:240]
        return {
            "ended": {"SUCCEEDED": None, "FAILED": f"ray job {run.sid} failed: {message}"}.get(
                state.status, f"ray job {run.sid} was stopped outside voicedesk"),
            "timed out": f"killed at the hard limit of {limit:g} s (ray job {run.sid})",
            "never started": f"ray job {run.sid} did not start within {limit:g} s: {message}",
            "stopped": f"dispatcher {self.owner} stopped during the run (ray job {run.sid})",
            "cluster lost": f"lost the Ray cluster during ray job {run.sid}: {message}",
        }.get(ending)

    async def _watch(self, run: _Run, stop: asyncio.Event) -> tuple[str, JobState]:
        """Poll the job to its end, pulling its log; stop it at the hard limit, when the lease
        is lost (cancelled), when it never starts, or when the dispatcher stops."""
        limit = run.experiment.hard_limit_s or self.settings.experiments.hard_limit_s
        submitted = last_ok = time.monotonic()
        started: float | None = None
        state = JobState("PENDING")
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_s)
            now = time.monotonic()
            try:
                state = job_state(await self._call(self.client.get_job_info, run.sid))
                await self._pull_logs(run)
                last_ok = now
            except Exception as exc:
                state = JobState(state.status, one_line(exc), state.exit_code, state.metadata)
            if state.status in TERMINAL:
                return "ended", state
            if started is None and state.status == "RUNNING":
                started = now
            since = submitted if started is None else started
            ending = self._ending(run, stop, now - since >= limit, now - last_ok)
            if ending is not None:
                if ending == "timed out" and started is None:
                    ending = "never started"
                return ending, await self._stop_job(run, state)

    def _ending(self, run: _Run, stop: asyncio.Event, late: bool, silent_s: float) -> str | None:
        """Why a job that has not ended should be stopped now, or None."""
        if stop.is_set():
            return "stopped"
        if late:
            return "timed out"
        if silent_s >= UNREACHABLE_S:
            return "cluster lost"
        current = self.ledger.get(run.experiment.id)
        if run.lost or current is None or current.status != "running" or (
            current.lease_owner != self.owner
        ):
            return "lost"
        return None

    async def _stop_job(self, run: _Run, state: JobState) -> JobState:
        """Stop a job and wait (a while) for it to stop; its last state and log."""
        try:
            await self._call(self.client.stop_job, run.sid)
            deadline = time.monotonic() + STOP_WAIT_S
            while state.status not in TERMINAL and time.monotonic() < deadline:
                await asyncio.sleep(min(self.poll_s, 0.5))
                state = job_state(await self._call(self.client.get_job_info, run.sid))
            await self._pull_logs(run)
        except Exception as exc:
            run.note(f"stopping ray job {run.sid}: {one_line(exc)}", end=True)
        return state

    async def _pull_logs(self, run: _Run) -> None:
        """Copy the job's log so far into the log file when it grew."""
        logs = str(await self._call(self.client.get_job_logs, run.sid))
        if logs != run.logs:
            run.logs = logs
            await asyncio.to_thread(run.write)

    async def _record(self, experiment: Experiment, result: RunResult) -> None:
        """Finish the attempt in the ledger; move the baseline on a keep when configured."""
        await record_run(self.ledger, self.owner, experiment, result)
