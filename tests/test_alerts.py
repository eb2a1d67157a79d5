"""Alerts: the feed over a real store (once, across connections, not for history), the
experiment bests from the real ledger, the routing policy, and the watcher's deliveries."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import datetime
from datetime import time as clock_time
from pathlib import Path

import pytest

from voicedesk.alerts.feed import AlertFeed, alert_for_event
from voicedesk.alerts.policy import Routing, route
from voicedesk.alerts.watcher import AlertWatcher
from voicedesk.config import AlertSettings, ExperimentSettings
from voicedesk.experiments.ledger import Ledger, RunResult, Submission
from voicedesk.schema import STEPS
from voicedesk.store import JobOutcome, Store
from voicedesk.types import Alert, Job, JobEvent


def finish(store: Store, agent: str, task: str, outcome: JobOutcome) -> int:
    """Create, claim and finish one job through the store's API; its id."""
    job = store.create_job(agent, task)
    claimed = store.claim_job("test:1:a", 60.0, [agent])
    assert claimed is not None and claimed.id == job.id
    assert store.finish_job(job.id, "test:1:a", outcome)
    return job.id


def run_experiment(ledger: Ledger, metric: float | None, **result: object) -> int:
    """Submit, claim and finish one experiment on the real ledger; its id."""
    experiment, _ = ledger.submit(Submission(f"try {metric}", "api"))
    claimed = ledger.claim("w:1:a", gpu="0")
    assert claimed is not None and claimed.id == experiment.id
    args = {"exit_code": 0, "metric": metric, "peak_vram_mb": 1000.0, "log_path": "l"} | result
    ledger.finish(claimed.id, "w:1:a", RunResult(**args))  # type: ignore[arg-type]
    return experiment.id


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A fresh store file."""
    return Store(tmp_path / "v.db")


def test_jobs_that_end_raise_one_alert_each(store: Store) -> None:
    done = finish(store, "frontend", "add a dark mode toggle",
                  JobOutcome("done", result="Added a dark mode toggle.\nDetails follow."))
    failed = finish(store, "infra", "run the tests",
                    JobOutcome("failed", error="timed out after 600 s"))
    asking = store.create_job("frontend", "fix the build")
    store.add_event(asking.id, "needs_input", "May it run npm test?")
    store.cancel_jobs([asking.id], "cancelled by voice")  # the user did it: no alert

    feed = AlertFeed(store)
    alerts = feed.collect()
    ask_event = next(e for e in store.events(asking.id) if e.kind == "needs_input")
    assert [(a.key, a.kind, a.text) for a in alerts] == [
        (f"job:{done}:done", "job_done",
         f"Job {done}, frontend, finished: added a dark mode toggle."),
        (f"job:{failed}:failed", "job_failed",
         f"Job {failed}, infra, failed: timed out after 600 s."),
        (f"job:{asking.id}:input:{ask_event.id}", "needs_input",
         f"Frontend needs your answer on job {asking.id}: may it run npm test?"),
    ]
    assert alerts[0].details.startswith(f"Job {done} for frontend: add a dark mode toggle. Result:")
    assert (alerts[0].job_id, alerts[0].agent, alerts[0].experiment_id) == (done, "frontend", None)
    assert feed.collect() == []
    assert [a.key for a in feed.since(0)] == [a.key for a in alerts]
    assert [a.key for a in feed.since(alerts[0].id, limit=1)] == [alerts[1].key]
    assert feed.latest_id() == alerts[-1].id and alerts[0].id < alerts[1].id


def test_progress_events_and_requeues_raise_nothing() -> None:
    job = Job(3, "infra", "t", "running", 0.0, 0.0)
    for kind, message in [("status", "running (runner x)"), ("status", "queued again"),
                          ("progress", "done: not a status"), ("status", "cancelled: by voice")]:
        assert alert_for_event(JobEvent(1, 3, 0.0, kind, message), job) is None


def _collect_on_own_connection(path: Path, out: list[Alert], gate: threading.Barrier) -> None:
    """Open a store on this thread, wait for the other collector, collect once."""
    feed = AlertFeed(Store(path))
    gate.wait(10)
    out += feed.collect()
    feed.store.close()


def test_two_connections_collecting_at_once_insert_each_alert_once(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    writer = Store(path)
    for round_ in range(5):
        ids = [finish(writer, "infra", f"t{round_}.{n}", JobOutcome("done", result="ok"))
               for n in range(4)]
        got: tuple[list[Alert], list[Alert]] = ([], [])
        gate = threading.Barrier(2)
        threads = [threading.Thread(target=_collect_on_own_connection, args=(path, out, gate))
                   for out in got]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        keys = sorted(a.key for out in got for a in out)
        assert keys == sorted(f"job:{i}:done" for i in ids)
    assert writer.query("SELECT COUNT(*) FROM alerts")[0][0] == 20


def test_collectors_racing_a_writer_deliver_each_alert_once(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    writer = Store(path)
    results: list[list[Alert]] = [[], []]
    finished = threading.Event()

    def collect(slot: int) -> None:
        """Collect on this thread's own connection until the writer is done, then once more."""
        feed = AlertFeed(Store(path))
        while not finished.is_set():
            results[slot] += feed.collect()
            time.sleep(0.002)
        results[slot] += feed.collect()
        feed.store.close()

    threads = [threading.Thread(target=collect, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    ids = [finish(writer, "infra", f"task {n}", JobOutcome("done", result=f"r{n}"))
           for n in range(25)]
    finished.set()
    for thread in threads:
        thread.join(30)
    keys = [a.key for part in results for a in part]
    assert sorted(keys) == sorted(f"job:{i}:done" for i in ids)
    assert writer.query("SELECT COUNT(*) FROM alerts")[0][0] == 25


def _version_3_file(path: Path) -> None:
    """A store file as schema 3 left it, with a finished job and a kept experiment."""
    db = sqlite3.connect(path, isolation_level=None)
    for step in range(3):
        db.executescript(f"BEGIN;{STEPS[step]}PRAGMA user_version={step + 1};COMMIT;")
    now = time.time() - 3600
    db.execute("INSERT INTO jobs (agent, task, status, created_at, updated_at, result)"
               " VALUES ('infra', 'old', 'done', ?, ?, 'ok')", (now, now))
    db.execute("INSERT INTO job_events (job_id, at, kind, message) VALUES (1, ?, 'status',"
               " 'done: ok')", (now,))
    db.execute("INSERT INTO experiments (description, status, proposed_by, created_at,"
               " metric_name, metric_value, finished_at, baseline) VALUES ('old', 'keep', 'api',"
               " ?, 'val_bpb', 0.99, ?, 'main')", (now, now))
    db.close()


def test_history_before_the_migration_is_not_alerted(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    _version_3_file(path)
    store = Store(path)
    assert store.schema_version() == 4
    feed = AlertFeed(store)
    assert feed.collect() == []
    new = finish(store, "infra", "new", JobOutcome("failed", error="exit 2"))
    assert [a.key for a in feed.collect()] == [f"job:{new}:failed"]


def test_kept_experiments_are_new_bests(store: Store) -> None:
    ledger = Ledger(store, ExperimentSettings())
    first = run_experiment(ledger, 0.9605)
    run_experiment(ledger, 0.97)  # discard
    crashed = ledger.get(run_experiment(ledger, 1.2, timed_out=True))
    assert crashed is not None and crashed.status == "crash"
    best = run_experiment(ledger, 0.9405)
    texts = [(a.key, a.kind, a.text) for a in AlertFeed(store).collect()]
    assert texts == [
        (f"experiment:{first}:best", "experiment_best",
         f"Experiment {first} is a new best: val_bpb 0.9605, the first kept result."),
        (f"experiment:{best}:best", "experiment_best",
         f"Experiment {best} is a new best: val_bpb 0.9405, down from 0.9605."),
    ]
    assert AlertFeed(store).collect() == []


def test_higher_is_better_says_up_from(store: Store) -> None:
    ledger = Ledger(store, ExperimentSettings(direction="higher", metric_name="accuracy"))
    run_experiment(ledger, 0.5)
    second = run_experiment(ledger, 0.7)
    alerts = AlertFeed(store).collect()
    assert alerts[-1].text == f"Experiment {second} is a new best: accuracy 0.7, up from 0.5."
    assert "accuracy 0.7 on baseline" in alerts[-1].details


def test_marks_read_and_write(store: Store) -> None:
    feed = AlertFeed(store)
    assert feed.mark("nope") is None
    since = feed.mark("alerts_since")
    assert since is not None and abs(since - time.time()) < 60
    feed.set_mark("x", 1.5)
    feed.set_mark("x", 2.5)
    assert feed.mark("x") == 2.5


def test_policy_with_quiet_hours_that_wrap_midnight() -> None:
    settings = AlertSettings(quiet_hours="22:00-07:00", speak=["job_failed", "needs_input"],
                             show=["job_failed", "job_done"], webhooks=["http://127.0.0.1:9/"],
                             webhook_kinds=["job_failed"])
    at = clock_time
    assert route(settings, "job_failed", at(12, 0)) == Routing(True, True, True)
    assert route(settings, "job_failed", at(23, 30)) == Routing(False, True, True)
    assert route(settings, "job_failed", at(0, 10)) == Routing(False, True, True)
    assert route(settings, "job_failed", at(6, 59)) == Routing(False, True, True)
    assert route(settings, "job_failed", at(7, 0)) == Routing(True, True, True)
    assert route(settings, "job_failed", at(21, 59)) == Routing(True, True, True)
    assert route(settings, "job_done", at(12, 0)) == Routing(False, True, False)
    assert route(settings, "needs_input", at(12, 0)) == Routing(True, False, False)
    assert route(AlertSettings(), "job_done", at(3, 0)) == Routing(True, True, False)


def _local(hour: int, minute: int) -> float:
    """A Unix time today at a local time of day."""
    return datetime.now().replace(hour=hour, minute=minute, second=0).timestamp()


async def _watch(watcher: AlertWatcher, until: threading.Event | None, work: object) -> None:
    """Run the watcher while `work` (a callable) runs on a thread; stop once `until` is set."""
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    await asyncio.to_thread(work)  # type: ignore[arg-type]
    deadline = time.monotonic() + 10
    while until is not None and not until.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, 10)


def test_watcher_calls_on_alert_as_the_policy_says(store: Store) -> None:
    settings = AlertSettings(speak=["job_failed"], show=["job_failed", "job_done"], poll_s=0.05,
                             quiet_hours="22:00-07:00")
    seen: list[tuple[str, Routing]] = []
    both = threading.Event()

    def on_alert(alert: Alert, routing: Routing) -> None:
        """Record what the watcher delivered."""
        seen.append((alert.kind, routing))
        if len(seen) == 2:
            both.set()

    def work() -> None:
        """Finish two jobs and ask a question, on a connection of this thread."""
        other = Store(store.path)
        finish(other, "infra", "a", JobOutcome("done", result="ok"))
        finish(other, "infra", "b", JobOutcome("failed", error="boom"))
        other.add_event(other.create_job("frontend", "c").id, "needs_input", "Go?")

    watcher = AlertWatcher(store, settings, on_alert, clock=lambda: _local(12, 0))
    asyncio.run(_watch(watcher, both, work))
    assert seen == [("job_done", Routing(False, True, False)),
                    ("job_failed", Routing(True, True, False))]  # needs_input: neither

    quiet: list[Routing] = []
    heard = threading.Event()

    def at_night(alert: Alert, routing: Routing) -> None:
        """Record the routing of the one alert expected."""
        quiet.append(routing)
        heard.set()

    night = AlertWatcher(store.path, settings, at_night, clock=lambda: _local(23, 0))
    asyncio.run(_watch(night, heard, lambda: finish(Store(store.path), "infra", "d",
                                                    JobOutcome("failed", error="x"))))
    assert quiet == [Routing(False, True, False)]


def test_watcher_outlives_a_store_it_cannot_open(tmp_path: Path) -> None:
    (tmp_path / "not-a-db").mkdir()
    watcher = AlertWatcher(tmp_path / "not-a-db", AlertSettings(poll_s=0.02),
                           lambda a, r: None)
    asyncio.run(_watch(watcher, None, lambda: time.sleep(0.3)))
    assert watcher.errors >= 3
