"""The runner: claims queued jobs from the store under a lease and runs them on their agents.

Leases make two runners on one store safe: a claim is one IMMEDIATE transaction, a heartbeat
renews the leases of running jobs, and a runner that finds a job whose lease expired (or
whose runner process on this host is gone) fails it or queues it again, per `[runner]
on_orphan`. Cancellation travels through the store: the runner watches its running jobs and
cancels the agent's coroutine when a job turns `cancelled` (by voice, from any process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from voicedesk.agents.protocol import Agent, FollowUp, JobContext, JobResult
from voicedesk.config import Settings
from voicedesk.errors import AgentError, VoicedeskError
from voicedesk.store import JobOutcome, Store
from voicedesk.types import Job

log = logging.getLogger(__name__)

_SHUTDOWN = "the runner stopped"

JobListener = Callable[[Job], None]
"""Told about each job the runner finished (done, failed or cancelled)."""


def ended_line(job: Job) -> str:
    """'Job 3 (infra) done: Run the tests succeeded in 2.1 s: 12 passed'."""
    detail = job.error if job.status in ("failed", "cancelled") else job.result
    return f"Job {job.id} ({job.agent}) {job.status}: {detail or job.task}"


def runner_id() -> str:
    """A name for this runner: host, process id and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def owner_is_dead(owner: str) -> bool:
    """True when `owner` names a runner process on this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def default_agent(kind: str) -> Agent:
    """The agent for a kind, importing only the backend that is used."""
    if kind == "shell":
        from voicedesk.agents.shell import ShellAgent

        return ShellAgent()
    if kind == "research":
        from voicedesk.agents.research import ResearchAgent

        return ResearchAgent()
    if kind == "coding":
        from voicedesk.agents.coding import CodingAgent

        return CodingAgent()
    raise AgentError(f"no agent of kind {kind!r}")


@dataclass
class _Running:
    """A job in flight: its task and why it is being stopped, if it is."""

    job: Job
    task: asyncio.Task[None]
    stop_reason: str | None = None


class Runner:
    """Runs queued jobs of the configured agents until told to stop."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        agents: Mapping[str, Agent] | None = None,
        on_finish: JobListener | None = None,
        owner: str | None = None,
    ) -> None:
        """Run jobs from `store`; `agents` maps a kind to its agent (default: the real ones)."""
        self.settings = settings
        self.store = store
        self.owner = owner or runner_id()
        self.on_finish = on_finish
        self._agents: dict[str, Agent] = dict(agents or {})
        self._running: dict[int, _Running] = {}
        self._last_heartbeat = 0.0

    @property
    def running(self) -> list[int]:
        """Ids of the jobs this runner is running now."""
        return list(self._running)

    async def run(self, stop: asyncio.Event | None = None, only: Collection[int] = ()) -> None:
        """Claim and run jobs until `stop` is set; with `only`, until those jobs have ended."""
        stop = stop or asyncio.Event()
        try:
            while not stop.is_set():
                self.tick(only)
                if only and self._all_ended(only):
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.runner.poll_s)
        finally:
            await self.shutdown()

    def _all_ended(self, job_ids: Collection[int]) -> bool:
        """Whether every job in `job_ids` is finished (or gone) and none is still ours."""
        if any(job_id in self._running for job_id in job_ids):
            return False
        jobs = [self.store.job(job_id) for job_id in job_ids]
        return all(job is None or job.status not in ("queued", "running") for job in jobs)

    def tick(self, only: Collection[int] = ()) -> None:
        """One pass: release orphans, stop cancelled jobs, renew leases, start new jobs."""
        runner = self.settings.runner
        requeue = runner.on_orphan == "requeue"
        self.store.release_orphans(owner_is_dead, requeue, runner.max_attempts)
        self._stop_cancelled()
        now = time.monotonic()
        if now - self._last_heartbeat >= runner.lease_s / 3:
            self.store.renew_leases(self.owner, list(self._running), runner.lease_s)
            self._last_heartbeat = now
        self._start_jobs(only)

    def _stop_cancelled(self) -> None:
        """Cancel the agents of running jobs that the store now says are cancelled."""
        for job_id, running in self._running.items():
            job = self.store.job(job_id)
            if job is not None and job.status == "cancelled" and running.stop_reason is None:
                running.stop_reason = "cancelled"
                running.task.cancel()

    def _free_agents(self, only: Collection[int]) -> list[str]:
        """Configured agents below their concurrency limit (none when the runner is full)."""
        if len(self._running) >= self.settings.runner.max_concurrent:
            return []
        busy: dict[str, int] = {}
        for running in self._running.values():
            busy[running.job.agent] = busy.get(running.job.agent, 0) + 1
        agents = [
            name
            for name, agent in self.settings.agents.items()
            if busy.get(name, 0) < agent.max_concurrent
        ]
        if only:
            wanted = {job.agent for i in only if (job := self.store.job(i)) is not None}
            agents = [name for name in agents if name in wanted]
        return agents

    def _start_jobs(self, only: Collection[int]) -> None:
        """Claim jobs while there is room, and start each on its agent."""
        while agents := self._free_agents(only):
            job = self.store.claim_job(self.owner, self.settings.runner.lease_s, agents)
            if job is None:
                return
            task = asyncio.get_running_loop().create_task(self._run_job(job))
            self._running[job.id] = _Running(job, task)

    def _context(self, job: Job) -> JobContext:
        """The context an agent gets for `job`, with a follow-up session if one is recent."""
        settings = self.settings.agents[job.agent]
        follow_up = None
        if settings.followup_window_s > 0:
            since = time.time() - settings.followup_window_s
            previous = self.store.last_session(job.agent, since)
            if previous and previous.id != job.id and previous.session_id and previous.worktree:
                follow_up = FollowUp(previous.id, previous.session_id, Path(previous.worktree))

        def emit(kind: str, message: str) -> None:
            """Store one progress event (and the session id, when one is reported)."""
            if kind == "session":
                self.store.set_session(job.id, message)
            self.store.add_event(job.id, kind, message[:4000])

        return JobContext(
            job=job,
            agent=job.agent,
            settings=settings,
            llm=self.settings.llm,
            store=self.store,
            emit=emit,
            worktrees_dir=self.settings.worktrees_dir(),
            follow_up=follow_up,
            experiments=self.settings.experiments,
        )

    def _agent(self, kind: str) -> Agent:
        """The agent for a kind, made on first use."""
        if kind not in self._agents:
            self._agents[kind] = default_agent(kind)
        return self._agents[kind]

    async def _run_job(self, job: Job) -> None:
        """Run one job to its end and record how it ended; never raises."""
        try:
            outcome = await self._outcome(job)
            self.store.finish_job(job.id, self.owner, outcome)
            if self._running[job.id].stop_reason == "cancelled":
                self.store.add_event(job.id, "note", "the agent stopped")
        except VoicedeskError as exc:
            log.error("job %s: could not record its end: %s", job.id, exc)
        finally:
            self._running.pop(job.id, None)
        finished = self.store.job(job.id)
        if finished is not None and self.on_finish is not None:
            self.on_finish(finished)

    async def _outcome(self, job: Job) -> JobOutcome:
        """Run the agent under the job's timeout and turn how it ended into an outcome."""
        settings = self.settings.agents[job.agent]
        timeout = settings.timeout_s or self.settings.runner.job_timeout_s
        try:
            context = self._context(job)
            async with asyncio.timeout(timeout):
                result = await self._agent(settings.kind).run(context)
        except TimeoutError:
            return JobOutcome("failed", error=f"timed out after {timeout:g} s")
        except asyncio.CancelledError:
            reason = self._running[job.id].stop_reason or _SHUTDOWN
            if reason == _SHUTDOWN and self.settings.runner.on_orphan == "requeue":
                return JobOutcome("queued", error=None)
            return JobOutcome("failed", error=f"stopped: {reason}")
        except AgentError as exc:
            return JobOutcome("failed", error=str(exc), log=exc.log)
        except Exception as exc:  # an agent's bug fails its job, never the runner
            log.exception("job %s: agent crashed", job.id)
            return JobOutcome("failed", error=f"internal error: {type(exc).__name__}: {exc}")
        return _done(result)

    async def shutdown(self) -> None:
        """Stop every running job (they fail, or go back to the queue per on_orphan)."""
        running = list(self._running.values())
        for item in running:
            item.stop_reason = item.stop_reason or _SHUTDOWN
            item.task.cancel()
        if running:
            await asyncio.wait(
                [item.task for item in running], timeout=self.settings.runner.cancel_grace_s
            )


def _done(result: JobResult) -> JobOutcome:
    """The outcome of a job its agent finished."""
    return JobOutcome(
        "done",
        result=result.summary,
        log=result.log,
        session_id=result.session_id,
        worktree=str(result.worktree) if result.worktree is not None else None,
        cost_usd=result.cost_usd,
    )
