"""The SQLite store: schema, durability settings, jobs, events, experiments, the audit log."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from voicedesk.errors import StoreError
from voicedesk.store import SCHEMA_VERSION, Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A fresh store in a temporary data dir."""
    return Store.in_dir(tmp_path / "data")


def test_new_store_has_schema_wal_and_full_sync(store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"jobs", "job_events", "utterances", "experiments"} <= tables
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_jobs_survive_reopening(tmp_path: Path) -> None:
    first = Store.in_dir(tmp_path)
    job = first.create_job("frontend", "add a dark mode toggle")
    first.close()
    again = Store.in_dir(tmp_path)
    assert again.job(job.id) == job
    assert [e.message for e in again.events(job.id)] == ["queued"]


def test_job_listing_filters_and_orders(store: Store) -> None:
    a = store.create_job("frontend", "one")
    b = store.create_job("backend", "two")
    c = store.create_job("frontend", "three")
    store.cancel_jobs([a.id], "test")
    assert [j.id for j in store.jobs()] == [c.id, b.id, a.id]
    assert [j.id for j in store.jobs(agent="frontend", statuses=("queued",))] == [c.id]


def test_cancel_only_touches_active_jobs(store: Store) -> None:
    job = store.create_job("backend", "x")
    assert [j.status for j in store.cancel_jobs([job.id], "by voice")] == ["cancelled"]
    assert store.cancel_jobs([job.id], "again") == []
    assert [e.message for e in store.events(job.id)] == ["queued", "cancelled: by voice"]
    assert store.job(job.id).error == "by voice"  # type: ignore[union-attr]


def test_experiments_and_audit_log(store: Store) -> None:
    exp = store.create_experiment("halves the warmup", proposed_by="voice")
    assert store.experiments() == [exp]
    row_id = store.record_utterance({
        "source": "file:x.wav", "start": 1.0, "end": 2.5, "transcript": "Status.",
        "intent": {"type": "status"}, "action": "status", "reply": "Nothing.",
        "timings": {"transcribe": 12.5},
    })
    [row] = store.utterances()
    assert row["id"] == row_id
    assert row["intent"] == {"type": "status"}
    assert row["timings"] == {"transcribe": 12.5}


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "voicedesk.db"
    sqlite3.connect(path).execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="upgrade voicedesk"):
        Store(path)


def test_unwritable_location_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot open the store"):
        Store.in_dir(blocker / "data")


def test_a_version_1_file_is_migrated_keeping_its_jobs(tmp_path: Path) -> None:
    from voicedesk.schema import STEPS

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(STEPS[0] + "PRAGMA user_version=1;")
    db.execute(
        "INSERT INTO jobs (agent, task, status, created_at, updated_at)"
        " VALUES ('backend', 'old job', 'queued', 1.0, 1.0)"
    )
    db.commit()
    db.close()
    store = Store(path)
    assert store.schema_version() == SCHEMA_VERSION
    job = store.job(1)
    assert job is not None and (job.task, job.attempts, job.lease_owner) == ("old job", 0, None)
    claimed = store.claim_job("me:1:x", 30, ["backend"])
    assert claimed is not None and (claimed.status, claimed.attempts) == ("running", 1)


def test_claim_takes_the_oldest_queued_job_of_the_given_agents(store: Store) -> None:
    a = store.create_job("frontend", "one")
    b = store.create_job("backend", "two")
    store.create_job("backend", "three")
    assert store.claim_job("r:1:x", 30, ["backend"]).id == b.id  # type: ignore[union-attr]
    assert store.claim_job("r:1:x", 30, ["frontend", "backend"]).id == a.id  # type: ignore[union-attr]
    assert store.claim_job("r:1:x", 30, []) is None


def test_finish_only_changes_a_job_its_runner_still_holds(store: Store) -> None:
    from voicedesk.store import JobOutcome

    job = store.create_job("backend", "x")
    store.claim_job("r:1:x", 30, ["backend"])
    assert not store.finish_job(job.id, "someone:2:else", JobOutcome("done", result="no"))
    store.cancel_jobs([job.id], "by voice")
    assert not store.finish_job(job.id, "r:1:x", JobOutcome("failed", error="x", log="the log"))
    ended = store.job(job.id)
    assert ended is not None and (ended.status, ended.log) == ("cancelled", "the log")
