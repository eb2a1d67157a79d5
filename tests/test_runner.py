"""The runner: leases, concurrency limits, timeouts, cancellation, orphans, follow-ups."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from pathlib import Path

import pytest
from agent_helpers import run_jobs, settings_with

from voicedesk.agents.protocol import JobContext, JobResult
from voicedesk.agents.runner import Runner, owner_is_dead
from voicedesk.errors import AgentError
from voicedesk.store import JobOutcome, Store


class TimedAgent:
    """An agent that sleeps `seconds` per job and remembers what ran, when, and in parallel."""

    def __init__(self, seconds: float = 0.2) -> None:
        """Sleep this long per job."""
        self.seconds = seconds
        self.started: list[int] = []
        self.contexts: list[JobContext] = []
        self.active = 0
        self.peak = 0
        self.cancelled: list[int] = []

    async def run(self, context: JobContext) -> JobResult:
        """Sleep, counting how many jobs run at once."""
        self.started.append(context.job.id)
        self.contexts.append(context)
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            context.emit("text", f"working on {context.job.task}")
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            self.cancelled.append(context.job.id)
            raise
        finally:
            self.active -= 1
        context.emit("session", f"session-{context.job.id}")
        return JobResult(
            summary=f"did {context.job.task}",
            log="full log",
            session_id=f"session-{context.job.id}",
            worktree=Path(f"/tmp/wt-{context.job.id}"),
            cost_usd=0.01,
        )


class BrokenAgent:
    """An agent that fails one way or another."""

    def __init__(self, error: Exception) -> None:
        """Raise `error` from every job."""
        self.error = error

    async def run(self, context: JobContext) -> JobResult:
        """Fail."""
        raise self.error


def _runner(tmp_path: Path, agent: object, agents: dict[str, dict[str, object]] | None = None,
            **runner: object) -> tuple[Runner, Store]:
    """A runner whose every kind is served by `agent`."""
    settings = settings_with(
        tmp_path, agents or {"backend": {"kind": "shell"}}, **runner
    )
    store = Store.in_dir(settings.data_dir())
    kinds = {"shell": agent, "coding": agent, "research": agent}
    return Runner(settings, store, agents=kinds), store  # type: ignore[arg-type]


def test_two_runners_on_one_store_never_run_the_same_job(tmp_path: Path) -> None:
    agents = {"backend": {"kind": "shell", "max_concurrent": 4}}
    first_agent, second_agent = TimedAgent(0.1), TimedAgent(0.1)
    first, store = _runner(tmp_path, first_agent, agents)
    second, _ = _runner(tmp_path, second_agent, agents)
    ids = [store.create_job("backend", f"task {n}").id for n in range(12)]

    async def both() -> None:
        await asyncio.gather(first.run(only=ids), second.run(only=ids))

    asyncio.run(asyncio.wait_for(both(), 30))
    ran = first_agent.started + second_agent.started
    assert sorted(ran) == ids, "every job ran exactly once"
    assert first_agent.started and second_agent.started, "both runners took work"
    assert {job.status for job in store.jobs()} == {"done"}
    assert all(job.attempts == 1 for job in store.jobs())


def test_per_agent_and_overall_concurrency_limits(tmp_path: Path) -> None:
    agent = TimedAgent(0.15)
    agents = {"a": {"kind": "shell", "max_concurrent": 1}, "b": {"kind": "shell",
              "max_concurrent": 5}}
    runner, store = _runner(tmp_path, agent, agents, max_concurrent=3)
    ids = [store.create_job("a", "x").id for _ in range(3)]
    ids += [store.create_job("b", "y").id for _ in range(6)]
    run_jobs(runner, ids)
    assert agent.peak == 3
    a_runs = [store.job(i) for i in ids[:3]]
    spans = sorted((j.started_at, j.finished_at) for j in a_runs if j)  # type: ignore[misc]
    assert all(prev[1] <= nxt[0] for prev, nxt in itertools.pairwise(spans)), (
        "agent a (max_concurrent 1) never ran two jobs at once"
    )


def test_result_summary_log_session_and_events_are_stored(tmp_path: Path) -> None:
    runner, store = _runner(tmp_path, TimedAgent(0.01))
    job = store.create_job("backend", "fix the flaky test")
    run_jobs(runner, [job.id])
    done = store.job(job.id)
    assert done is not None and done.status == "done"
    assert (done.result, done.log, done.session_id) == (
        "did fix the flaky test", "full log", f"session-{job.id}"
    )
    assert done.worktree == f"/tmp/wt-{job.id}" and done.cost_usd == pytest.approx(0.01)
    assert done.lease_owner is None and done.finished_at is not None
    events = [(e.kind, e.message) for e in store.events(job.id)]
    assert ("text", "working on fix the flaky test") in events
    assert events[-1] == ("status", "done: did fix the flaky test")


def test_timeout_fails_the_job_with_the_reason(tmp_path: Path) -> None:
    agent = TimedAgent(30)
    runner, store = _runner(tmp_path, agent, job_timeout_s=0.3)
    job = store.create_job("backend", "slow")
    run_jobs(runner, [job.id])
    failed = store.job(job.id)
    assert failed is not None
    assert (failed.status, failed.error) == ("failed", "timed out after 0.3 s")
    assert agent.cancelled == [job.id]


def test_cancel_in_the_store_reaches_the_running_agent(tmp_path: Path) -> None:
    agent = TimedAgent(30)
    runner, store = _runner(tmp_path, agent)
    job = store.create_job("backend", "slow")

    async def scenario() -> None:
        task = asyncio.create_task(runner.run(only=[job.id]))
        while not agent.started:
            await asyncio.sleep(0.02)
        Store(store.path).cancel_jobs([job.id], "cancelled by voice")  # another connection
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert agent.cancelled == [job.id]
    cancelled = store.job(job.id)
    assert cancelled is not None and cancelled.status == "cancelled"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (AgentError("no such thing", log="partial log"), "no such thing"),
        (RuntimeError("bug"), "internal error: RuntimeError: bug"),
    ],
)
def test_agent_failures_fail_the_job_not_the_runner(
    tmp_path: Path, error: Exception, reason: str
) -> None:
    runner, store = _runner(tmp_path, BrokenAgent(error))
    ids = [store.create_job("backend", "a").id, store.create_job("backend", "b").id]
    run_jobs(runner, ids)
    assert [(j.status, j.error) for j in map(store.job, ids) if j] == [("failed", reason)] * 2


def _orphan(store: Store, owner: str, lease_s: float) -> int:
    """A job claimed by `owner` (a runner that is not running) with a lease of `lease_s`."""
    store.create_job("backend", "left behind")
    job = store.claim_job(owner, lease_s, ["backend"])
    assert job is not None
    return job.id


def test_restart_fails_jobs_left_running_by_a_dead_process(tmp_path: Path) -> None:
    runner, store = _runner(tmp_path, TimedAgent(0.01))
    dead = f"{socket.gethostname()}:999999:abcdef"  # a pid that does not exist
    assert owner_is_dead(dead) and not owner_is_dead(runner.owner)
    job_id = _orphan(store, dead, lease_s=3600)  # lease still valid: the pid check finds it
    elsewhere = _orphan(store, "otherhost:1:x", lease_s=-1)  # another host: lease expired
    alive = _orphan(store, "otherhost:2:y", lease_s=3600)  # another host, lease valid: left
    run_jobs(runner, [job_id, elsewhere], timeout=10)
    failed = store.job(job_id)
    assert failed is not None and failed.status == "failed"
    assert failed.error == f"the runner running it ({dead}) stopped: its process is gone"
    assert (store.job(elsewhere).error or "").endswith("its lease expired")  # type: ignore[union-attr]
    assert store.job(alive).status == "running"  # type: ignore[union-attr]


def test_requeue_policy_runs_orphans_again_up_to_max_attempts(tmp_path: Path) -> None:
    agent = TimedAgent(0.01)
    runner, store = _runner(tmp_path, agent, on_orphan="requeue", max_attempts=2)
    job_id = _orphan(store, "otherhost:1:x", lease_s=-1)
    run_jobs(runner, [job_id])
    again = store.job(job_id)
    assert again is not None and (again.status, again.attempts) == ("done", 2)
    assert agent.started == [job_id]
    assert any(e.message.startswith("queued again") for e in store.events(job_id))
    store.create_job("backend", "y")
    last = store.claim_job("otherhost:1:x", -1, ["backend"])
    store.finish_job(last.id, "otherhost:1:x", JobOutcome("queued"))  # type: ignore[union-attr]
    store.claim_job("otherhost:1:x", -1, ["backend"])  # second attempt, also lost
    run_jobs(runner, [last.id], timeout=10)  # type: ignore[union-attr]
    assert store.job(last.id).status == "failed"  # type: ignore[union-attr]


def test_follow_up_within_the_window_gets_the_previous_session(tmp_path: Path) -> None:
    agent = TimedAgent(0.01)
    agents = {"backend": {"kind": "coding", "followup_window_s": 60},
              "frontend": {"kind": "coding", "followup_window_s": 0}}
    runner, store = _runner(tmp_path, agent, agents)
    first = store.create_job("backend", "add an endpoint")
    run_jobs(runner, [first.id])
    second = store.create_job("backend", "also add tests for it")
    other = store.create_job("frontend", "one")
    run_jobs(runner, [second.id, other.id])
    follow_ups = {c.job.id: c.follow_up for c in agent.contexts}
    assert follow_ups[first.id] is None
    assert follow_ups[second.id] is not None
    assert (follow_ups[second.id].job_id, follow_ups[second.id].session_id) == (  # type: ignore[union-attr]
        first.id, f"session-{first.id}"
    )
    assert str(follow_ups[second.id].worktree) == f"/tmp/wt-{first.id}"  # type: ignore[union-attr]
    assert follow_ups[other.id] is None  # window 0: never resumes


def test_shutdown_stops_running_jobs(tmp_path: Path) -> None:
    agent = TimedAgent(30)
    runner, store = _runner(tmp_path, agent)
    job = store.create_job("backend", "slow")

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        while not agent.started:
            await asyncio.sleep(0.02)
        began = time.monotonic()
        stop.set()
        await asyncio.wait_for(task, 5)
        assert time.monotonic() - began < 2

    asyncio.run(scenario())
    stopped = store.job(job.id)
    assert stopped is not None and (stopped.status, stopped.error) == (
        "failed", "stopped: the runner stopped"
    )
