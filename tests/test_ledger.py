"""The experiment ledger: idempotent submits, leases, verdicts, retries, orphans, cancels."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicedesk.config import ExperimentSettings
from voicedesk.experiments.judge import read_log, verdict
from voicedesk.experiments.ledger import Ledger, RunResult, Submission, spoken_key
from voicedesk.store import Store


class Clock:
    """A settable clock."""

    def __init__(self) -> None:
        """Start at 1000 s."""
        self.now = 1000.0

    def __call__(self) -> float:
        """The time."""
        return self.now


@pytest.fixture
def clock() -> Clock:
    """A clock the test moves."""
    return Clock()


@pytest.fixture
def ledger(tmp_path: Path, clock: Clock) -> Ledger:
    """A ledger with two attempts and a 10 s lease."""
    settings = ExperimentSettings(max_attempts=2, lease_s=10)
    return Ledger(Store(tmp_path / "v.db"), settings, clock)


def _run(ledger: Ledger, metric: float | None, **result: object) -> str:
    """Submit, claim and finish one experiment; its status."""
    experiment, _ = ledger.submit(Submission(f"try {metric}", "api"))
    claimed = ledger.claim("w:1:a", gpu="0")
    assert claimed is not None and claimed.id == experiment.id
    args = {"exit_code": 0, "metric": metric, "peak_vram_mb": 1000.0, "log_path": "l"} | result
    finished = ledger.finish(claimed.id, "w:1:a", RunResult(**args))  # type: ignore[arg-type]
    assert finished is not None
    return finished.status


def test_keep_and_discard_against_the_best_kept_result(ledger: Ledger) -> None:
    assert [_run(ledger, v) for v in (1.0, 1.1, 0.9, 0.95)] == [
        "keep", "discard", "keep", "discard"
    ]
    assert [e.metric_value for e in ledger.leaderboard()] == [0.9, 0.95, 1.0, 1.1]
    best = ledger.best()
    assert best is not None and best.metric_value == 0.9
    assert best.reason == "val_bpb 0.9 vs best kept 1"


def test_higher_is_better_when_configured(tmp_path: Path) -> None:
    ledger = Ledger(Store(tmp_path / "v.db"), ExperimentSettings(direction="higher"))
    assert [_run(ledger, v) for v in (0.5, 0.4, 0.7)] == ["keep", "discard", "keep"]


def test_failures_retry_then_crash_and_timeouts_crash_at_once(ledger: Ledger) -> None:
    assert _run(ledger, None, exit_code=1) == "queued"  # attempt 1 of 2
    again = ledger.claim("w:1:a")
    assert again is not None and again.attempts == 2
    done = ledger.finish(again.id, "w:1:a", RunResult(1, None, None, "l"))
    assert done is not None and (done.status, done.reason) == (
        "crash", "exited with code 1 (after 2 attempts)"
    )
    assert _run(ledger, 1.0, timed_out=True) == "crash"
    assert _run(ledger, None) == "queued"  # no metric line: a failure, retried


def test_the_same_key_returns_the_first_experiment(ledger: Ledger, clock: Clock) -> None:
    first, created = ledger.submit(Submission("halve the warmup", "api", idempotency_key="k1"))
    again, created_again = ledger.submit(Submission("other", "api", idempotency_key="k1"))
    assert (created, created_again, again.id) == (True, False, first.id)
    assert spoken_key("Halve the  warmup", 120, clock.now) == spoken_key("halve the warmup", 120,
                                                                       clock.now + 1)
    assert spoken_key("halve the warmup", 120, 1000) != spoken_key("halve the warmup", 120, 1200)


def test_a_dead_worker_loses_its_lease_once_then_the_run_crashes(
    ledger: Ledger, clock: Clock
) -> None:
    experiment, _ = ledger.submit(Submission("x", "api"))
    ledger.claim("w:1:dead")
    assert ledger.release_orphans(lambda owner: False) == []  # lease still valid
    clock.now += 11
    [requeued] = ledger.release_orphans(lambda owner: False)
    assert (requeued.status, requeued.reason) == (
        "queued", "worker w:1:dead stopped (lease expired)"
    )
    ledger.claim("w:2:dead")
    [crashed] = ledger.release_orphans(lambda owner: owner == "w:2:dead")
    assert crashed.status == "crash" and crashed.reason.endswith("out of attempts")  # type: ignore[union-attr]
    assert ledger.get(experiment.id).status == "crash"  # type: ignore[union-attr]


def test_heartbeats_and_cancel(ledger: Ledger, clock: Clock) -> None:
    experiment, _ = ledger.submit(Submission("x", "api"))
    ledger.claim("w:1:a")
    assert ledger.heartbeat(experiment.id, "w:1:a")
    assert not ledger.heartbeat(experiment.id, "someone:else")
    cancelled = ledger.cancel(experiment.id, "by voice")
    assert cancelled is not None and cancelled.status == "cancelled"
    assert not ledger.heartbeat(experiment.id, "w:1:a")  # the worker learns it must stop
    ended = ledger.finish(experiment.id, "w:1:a", RunResult(0, 0.5, 10.0, "log"))
    assert ended is not None and (ended.status, ended.metric_value) == ("cancelled", 0.5)
    assert ledger.cancel(experiment.id, "again") is None
    assert ledger.counts() == {"cancelled": 1}


def test_needs_change_waits_until_a_patch_arrives(ledger: Ledger) -> None:
    waiting, _ = ledger.submit(Submission("x", "voice", needs_change="no patch yet"))
    assert ledger.claim("w:1:a") is None
    queued = ledger.attach_patch(waiting.id, "--- a\n+++ b\n")
    assert queued is not None and queued.status == "queued" and queued.reason is None
    assert ledger.attach_patch(waiting.id, "again") is None


def test_read_log_takes_the_last_match_of_each_line(tmp_path: Path) -> None:
    log = "step 1\nval_bpb: 1.2\nval_bpb: 0.998\npeak_vram_mb: 45060.2\nval_bpb: oops\n"
    readings = read_log(log, ExperimentSettings())
    assert (readings.metric, readings.peak_vram_mb) == (0.998, 45060.2)
    assert read_log("nothing", ExperimentSettings()).metric is None
    assert verdict(1.0, None, "lower") == "keep" and verdict(1.0, 0.9, "lower") == "discard"
