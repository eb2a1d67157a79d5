"""The stand-up over a real store: exact order and content of a known mix, nothing new after
it was marked, and a later failure told alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicedesk.agents.questions import Questions
from voicedesk.alerts.digest import (
    NOTHING_NEW,
    Digest,
    DigestItem,
    build_digest,
    collect_digest,
    mark_digest,
)
from voicedesk.config import ExperimentSettings
from voicedesk.experiments.ledger import Ledger, RunResult, Submission
from voicedesk.store import JobOutcome, Store
from voicedesk.types import Alert, Experiment

OWNER = "test:1:a"


def finish(store: Store, agent: str, task: str, outcome: JobOutcome, *notes: str) -> int:
    """Create, claim and finish a job through the store (with progress notes); its id."""
    job = store.create_job(agent, task)
    assert store.claim_job(OWNER, 60.0, [agent]) is not None
    for note in notes:
        store.add_event(job.id, "progress", note)
    assert store.finish_job(job.id, OWNER, outcome)
    return job.id


def experiment(ledger: Ledger, metric: float) -> int:
    """Submit, claim and finish one experiment on the real ledger; its id."""
    exp, _ = ledger.submit(Submission(f"try {metric}", "api"))
    assert ledger.claim("w:1:a") is not None
    ledger.finish(exp.id, "w:1:a", RunResult(0, metric, 1000.0, "log"))
    return exp.id


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A fresh store file."""
    return Store(tmp_path / "v.db")


def test_the_stand_up_of_a_known_mix(store: Store) -> None:
    asking = store.create_job("frontend", "fix the build")
    assert store.claim_job(OWNER, 60.0, ["frontend"]) is not None
    f1 = finish(store, "infra", "run the tests",
                JobOutcome("failed", error="timed out after 600 s"))
    d1 = finish(store, "backend", "add a health endpoint",
                JobOutcome("done", result="Added GET /health. It returns 200.", cost_usd=0.4213),
                "wrote app/health.py", "tests pass")
    d2 = finish(store, "research", "compare vad libraries", JobOutcome("done", result="webrtcvad"))
    f2 = finish(store, "backend", "migrate the db", JobOutcome("failed", error="Exited with 1"))
    Questions(store).ask(asking.id, "frontend", "permission", "May it run npm test?")
    d3 = finish(store, "infra", "disk usage", JobOutcome("done", result="41% used"))
    ledger = Ledger(store, ExperimentSettings())
    kept, dropped = experiment(ledger, 0.9605), experiment(ledger, 0.97)

    digest = collect_digest(store)
    assert isinstance(digest, Digest)
    assert digest.opening == ("Since your last stand-up: 1 agent needs you, 2 failures,"
                              " 3 finished jobs, 1 new best, 1 discarded experiment.")
    assert [(i.kind, i.text, i.job_id, i.experiment_id) for i in digest.items] == [
        ("needs_input", f"Frontend needs your permission on job {asking.id}: may it run npm test?",
         asking.id, None),
        ("job_failed", f"Job {f1}, infra, failed: timed out after 600 s.", f1, None),
        ("job_failed", f"Job {f2}, backend, failed: exited with 1.", f2, None),
        ("job_done", f"Job {d1}, backend, finished: added GET /health.", d1, None),
        ("job_done", f"Job {d2}, research, finished: webrtcvad.", d2, None),
        ("job_done", f"Job {d3}, infra, finished: 41% used.", d3, None),
        ("experiment_best",
         f"Experiment {kept} is a new best: val_bpb 0.9605, the first kept result.", None, kept),
        ("experiment_discard", f"Experiment {dropped} was discarded: val_bpb 0.97.", None,
         dropped),
    ]
    details = {i.text.split(":")[0]: i.details for i in digest.items}
    assert details[f"Job {d1}, backend, finished"] == (
        f"Job {d1} for backend: add a health endpoint. Result: Added GET /health. It returns 200."
        " Cost $0.42. Last events: progress: wrote app/health.py; progress: tests pass.")
    assert details[f"Job {f1}, infra, failed"] == (
        f"Job {f1} for infra: run the tests. Error: timed out after 600 s.")
    assert details[f"Frontend needs your permission on job {asking.id}"] == (
        f"Frontend asks permission on job {asking.id} (fix the build): May it run npm test?")
    assert details[f"Experiment {dropped} was discarded"] == (
        f"Experiment {dropped}: try 0.97. val_bpb 0.97 on baseline main."
        " Judged: val_bpb 0.97 vs best kept 0.9605. Peak memory 1000 MB.")
    assert digest.lines()[0] == digest.opening and len(digest.lines()) == 9

    mark_digest(store, digest.up_to)
    again = collect_digest(store)
    assert (again.opening, again.items) == (NOTHING_NEW, [])
    assert again.lines() == ["Nothing new since your last stand-up."]
    mark_digest(store, again.up_to)

    f3 = finish(store, "infra", "deploy", JobOutcome("failed", error="no route to host"))
    third = collect_digest(store)
    assert third.lines() == ["Since your last stand-up: 1 failure.",
                             f"Job {f3}, infra, failed: no route to host."]


def test_marks_only_move_forward_and_an_unmarked_stand_up_repeats(store: Store) -> None:
    failed = finish(store, "infra", "a", JobOutcome("failed", error="boom"))
    first = collect_digest(store)
    assert [i.job_id for i in first.items] == [failed]
    assert [i.job_id for i in collect_digest(store).items] == [failed]  # not marked: again
    mark_digest(store, first.up_to, first.until)
    mark_digest(store, 0, 0.0)  # an older stand-up marked late changes nothing
    assert collect_digest(store).opening == NOTHING_NEW


def test_an_answered_question_and_a_finished_job_are_not_waiting(store: Store) -> None:
    job = store.create_job("frontend", "x")
    questions = Questions(store)
    answered = questions.ask(job.id, "frontend", "question", "Which branch?")
    questions.answer(answered.id, "main")
    assert collect_digest(store).opening == NOTHING_NEW


def _alert(n: int, kind: str, text: str, experiment_id: int | None = None) -> Alert:
    """An alert as stored."""
    return Alert(n, f"k{n}", float(n), kind, text, None if experiment_id else n,
                 experiment_id, None, "")


def _exp(n: int, status: str, metric: float | None = None, reason: str | None = None
         ) -> Experiment:
    """A finished experiment."""
    return Experiment(n, f"try {n}", status, "api", 0.0, metric_name="val_bpb",
                      metric_value=metric, reason=reason, finished_at=float(n))


def test_build_digest_groups_many_discards_and_tells_crashes_briefly() -> None:
    exps = [_exp(n, "discard", 1.0 + n / 100) for n in range(1, 6)]
    exps += [_exp(9, "crash", reason="exited with code 1 (after 2 attempts)"),
             _exp(10, "keep", 0.5), _exp(11, "cancelled")]
    items = build_digest([_alert(1, "experiment_best", "Experiment 10 is a new best.", 10),
                          _alert(2, "needs_input", "ignored: questions come from the table")],
                         [], exps)
    assert [i.text for i in items] == [
        "Since your last stand-up: 1 new best, 5 discarded experiments, 1 crashed experiment.",
        "Experiment 10 is a new best.",
        "5 experiments were discarded: 1, 2, 3, 4 and 5.",
        "Experiment 9 crashed: exited with code 1 (after 2 attempts).",
    ]
    assert build_digest([], [], []) == [DigestItem(NOTHING_NEW, "", kind="summary")]
