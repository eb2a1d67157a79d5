"""The console acting on intents against a real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicedesk.console import Console
from voicedesk.store import Store
from voicedesk.types import Intent

AGENTS = ("frontend", "backend", "infra", "research")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A fresh store."""
    return Store.in_dir(tmp_path)


@pytest.fixture
def console(store: Store) -> Console:
    """A console on the real clock."""
    return Console(store, AGENTS)


def test_dispatch_creates_a_queued_job(console: Console, store: Store) -> None:
    outcome = console.act(Intent("dispatch", agent="frontend", task="add a dark mode toggle"))
    [job] = store.jobs()
    assert (job.agent, job.task, job.status) == ("frontend", "add a dark mode toggle", "queued")
    assert outcome.job_ids == (job.id,)
    assert outcome.reply == f"Job {job.id} queued for frontend: add a dark mode toggle."


def test_dispatch_to_an_unknown_agent_or_without_task_creates_nothing(
    console: Console, store: Store
) -> None:
    assert console.act(Intent("dispatch", agent="database", task="x")).action == "rejected"
    assert console.act(Intent("dispatch", agent="frontend", task="")).action == "rejected"
    assert store.jobs() == []


def test_status_overview_job_and_agent(console: Console, store: Store) -> None:
    assert console.act(Intent("status")).reply == "Nothing is running or queued."
    one = store.create_job("frontend", "add a toggle")
    two = store.create_job("backend", "fix login")
    overview = console.act(Intent("status")).reply
    assert f"#{one.id} frontend queued" in overview and f"#{two.id} backend queued" in overview
    assert console.act(Intent("status", job=two.id)).reply.startswith(
        f"Job {two.id}, backend: queued for a few seconds"
    )
    assert console.act(Intent("status", job=999)).reply == "There is no job 999."
    assert "add a toggle" in console.act(Intent("status", agent="frontend")).reply
    assert console.act(Intent("status", agent="infra")).reply == "infra has no active jobs."


def test_status_says_how_long(store: Store) -> None:
    job = store.create_job("frontend", "x")
    later = Console(store, AGENTS, clock=lambda: job.updated_at + 4 * 60 + 5)
    assert "queued for 4 minutes" in later.act(Intent("status", job=job.id)).reply


def test_cancel_job_and_agent(console: Console, store: Store) -> None:
    a = store.create_job("backend", "one")
    b = store.create_job("backend", "two")
    c = store.create_job("frontend", "three")
    assert console.act(Intent("cancel", job=a.id)).reply == f"Cancelled job {a.id} (backend)."
    assert console.act(Intent("cancel", job=a.id)).reply == f"Job {a.id} is already cancelled."
    outcome = console.act(Intent("cancel", agent="backend"))
    assert outcome.job_ids == (b.id,)
    assert store.job(c.id).status == "queued"  # type: ignore[union-attr]
    assert console.act(Intent("cancel", agent="backend")).action == "rejected"


def test_experiment_and_results(console: Console, store: Store) -> None:
    assert console.act(Intent("results")).reply == "No experiments yet."
    outcome = console.act(Intent("experiment", task="halves the warmup"))
    [experiment] = store.experiments()
    assert experiment.description == "halves the warmup" and experiment.status == "queued"
    assert outcome.experiment_ids == (experiment.id,)
    assert console.act(Intent("results")).reply == "No results yet: 1 experiment queued, none run."


@pytest.mark.parametrize("kind", ["confirm", "deny", "unknown"])
def test_nothing_to_do_changes_nothing(console: Console, store: Store, kind: str) -> None:
    assert console.act(Intent(kind)).action == "none"  # type: ignore[arg-type]
    assert store.jobs() == [] and store.experiments() == []
