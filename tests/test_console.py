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
    assert experiment.description == "halves the warmup"
    assert experiment.status == "needs_change"  # no patch, and no research agent to write one
    assert outcome.reply.startswith(f"Experiment {experiment.id} recorded: halves the warmup.")
    assert outcome.reply.endswith("It waits for a patch (`voicedesk experiments` says how to "
                                  "give it one).")
    assert experiment.reason is not None and "voicedesk submit --patch" in experiment.reason
    assert outcome.experiment_ids == (experiment.id,)
    again = console.act(Intent("experiment", task="Halves the  warmup"))
    assert again.reply == f"Experiment {experiment.id} is already needs_change: halves the warmup."
    assert len(store.experiments()) == 1
    assert console.act(Intent("results")).reply == "No results yet. 1 waiting for a patch."


def test_results_report_the_best_against_the_baseline(store: Store) -> None:
    from voicedesk.experiments.ledger import RunResult, Submission

    console = Console(store, AGENTS, clock=lambda: 1000.0)
    ledger = console.ledger
    for description, value in (("baseline", 1.0), ("halve the warmup", 0.9), ("worse", 1.2)):
        ledger.submit(Submission(description, "api"))
        claimed = ledger.claim("w:1:x")
        assert claimed is not None
        ledger.finish(claimed.id, "w:1:x", RunResult(0, value, 2048.0, "log"))
    ledger.submit(Submission("running one", "api"))
    ledger.claim("w:1:x")
    reply = console.act(Intent("results")).reply
    assert reply == (
        "Best val_bpb 0.9, experiment 2 (halve the warmup), 0.1 better than the baseline's 1. "
        "1 running, 2 kept, 1 discarded. Experiment 4 has run 0 seconds: running one."
    )


def test_cancel_experiment(console: Console, store: Store) -> None:
    console.act(Intent("experiment", task="halves the warmup"))
    done = console.act(Intent("cancel", job=1, task="experiment"))
    assert (done.action, done.reply) == ("experiment_cancelled", "Cancelled experiment 1.")
    assert store.experiment(1).status == "cancelled"  # type: ignore[union-attr]
    again = console.act(Intent("cancel", job=1, task="experiment"))
    assert again.reply == "Experiment 1 is already cancelled."
    missing = console.act(Intent("cancel", job=9, task="experiment"))
    assert missing.reply == "There is no experiment 9."


@pytest.mark.parametrize("kind", ["confirm", "deny", "unknown"])
def test_nothing_to_do_changes_nothing(console: Console, store: Store, kind: str) -> None:
    assert console.act(Intent(kind)).action == "none"  # type: ignore[arg-type]
    assert store.jobs() == [] and store.experiments() == []


def test_a_research_agent_is_asked_for_the_patch_when_one_can_write_it(store: Store) -> None:
    console = Console(store, AGENTS, patch_writer="research")
    outcome = console.act(Intent("experiment", task="halves the warmup"))
    [experiment] = store.experiments()
    [job] = store.jobs()
    assert (experiment.status, experiment.reason) == (
        "needs_change", "waiting for research to write the patch"
    )
    assert job.agent == "research"
    assert job.task == "write the patch for experiment 1: halves the warmup"
    assert outcome.reply == (
        "Experiment 1: halves the warmup. research is writing the patch (job 1)."
    )


def test_patch_writer_needs_a_key_a_repo_and_a_research_agent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from voicedesk.config import Settings
    from voicedesk.experiments.spoken import patch_writer

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with_repo = Settings(experiments={"repo": tmp_path})
    assert patch_writer(with_repo) is None
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    assert patch_writer(with_repo) == "research"
    assert patch_writer(Settings()) is None  # no repo
    assert patch_writer(Settings(experiments={"repo": tmp_path},
                                 agents={"ops": {"kind": "shell"}})) is None
