"""SQLite store (WAL, synchronous=FULL): jobs, job events, experiments, the utterance audit log."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from voicedesk.errors import StoreError
from voicedesk.types import ACTIVE_JOB_STATUSES, Experiment, Job, JobEvent

SCHEMA_VERSION = 1
"""The schema this code writes; stored in PRAGMA user_version."""

_SCHEMA = """
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent TEXT NOT NULL,
    task TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued','running','done','failed','cancelled')),
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    result TEXT,
    error TEXT
);
CREATE INDEX jobs_by_agent ON jobs (agent, status);
CREATE TABLE job_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL REFERENCES jobs (id),
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX job_events_by_job ON job_events (job_id, id);
CREATE TABLE experiments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    proposed_by TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE utterances (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    source TEXT NOT NULL,
    start REAL,
    end REAL,
    transcript TEXT NOT NULL,
    intent TEXT NOT NULL,
    action TEXT NOT NULL,
    reply TEXT NOT NULL,
    timings TEXT NOT NULL DEFAULT '{}'
);
"""


def _job(row: sqlite3.Row) -> Job:
    """A jobs row as a Job."""
    return Job(**dict(row))


class Store:
    """The one SQLite database of a voicedesk data directory."""

    def __init__(self, path: Path) -> None:
        """Open (creating if needed) the database at `path` and bring its schema up to date."""
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the store at {path}: {exc}") from None

    @classmethod
    def in_dir(cls, data_dir: Path) -> Store:
        """Open the store file `voicedesk.db` inside a data directory."""
        return cls(data_dir / "voicedesk.db")

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def _migrate(self) -> None:
        """Create the schema on a new file; refuse a file from a newer voicedesk."""
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}; this voicedesk knows up to "
                f"{SCHEMA_VERSION}: upgrade voicedesk"
            )
        if version == 0:
            self._db.executescript(
                "BEGIN IMMEDIATE;" + _SCHEMA + f"PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
            )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """Run statements in one IMMEDIATE transaction, converting errors to StoreError."""
        try:
            if not self._db.in_transaction:
                self._db.execute("BEGIN IMMEDIATE")
            yield self._db
            if self._db.in_transaction:
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise StoreError(f"store write failed ({self.path}): {exc}") from None

    def schema_version(self) -> int:
        """The schema version recorded in the file."""
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def create_job(self, agent: str, task: str) -> Job:
        """Insert a queued job and its first event; return it."""
        now = time.time()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO jobs (agent, task, status, created_at, updated_at)"
                " VALUES (?, ?, 'queued', ?, ?)",
                (agent, task, now, now),
            )
            job_id = int(cursor.lastrowid or 0)
            self._event(db, job_id, "status", "queued", now)
        return self.job(job_id)  # type: ignore[return-value]

    def job(self, job_id: int) -> Job | None:
        """The job with this id, or None."""
        row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def jobs(self, agent: str | None = None, statuses: tuple[str, ...] = ()) -> list[Job]:
        """Jobs, newest first, optionally for one agent and a set of statuses."""
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        if agent is not None:
            sql, args = sql + " AND agent = ?", [agent]
        if statuses:
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            args += list(statuses)
        rows = self._db.execute(sql + " ORDER BY id DESC", args).fetchall()
        return [_job(row) for row in rows]

    def cancel_jobs(self, job_ids: list[int], reason: str) -> list[Job]:
        """Mark the still-active jobs among `job_ids` cancelled; return those changed."""
        now, changed = time.time(), []
        with self._transaction() as db:
            for job_id in job_ids:
                cursor = db.execute(
                    "UPDATE jobs SET status = 'cancelled', updated_at = ?, error = ?"
                    f" WHERE id = ? AND status IN ({','.join('?' * len(ACTIVE_JOB_STATUSES))})",
                    (now, reason, job_id, *ACTIVE_JOB_STATUSES),
                )
                if cursor.rowcount:
                    self._event(db, job_id, "status", f"cancelled: {reason}", now)
                    changed.append(job_id)
        return [job for job_id in changed if (job := self.job(job_id)) is not None]

    @staticmethod
    def _event(db: sqlite3.Connection, job_id: int, kind: str, message: str, at: float) -> None:
        """Append one job event inside the caller's transaction."""
        db.execute(
            "INSERT INTO job_events (job_id, at, kind, message) VALUES (?, ?, ?, ?)",
            (job_id, at, kind, message),
        )

    def add_event(self, job_id: int, kind: str, message: str) -> None:
        """Append one event to a job."""
        with self._transaction() as db:
            self._event(db, job_id, kind, message, time.time())

    def events(self, job_id: int) -> list[JobEvent]:
        """A job's events, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM job_events WHERE job_id = ? ORDER BY id", (job_id,)
        ).fetchall()
        return [JobEvent(**dict(row)) for row in rows]

    def create_experiment(self, description: str, proposed_by: str) -> Experiment:
        """Record a queued experiment request."""
        now = time.time()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO experiments (description, status, proposed_by, created_at)"
                " VALUES (?, 'queued', ?, ?)",
                (description, proposed_by, now),
            )
        return Experiment(int(cursor.lastrowid or 0), description, "queued", proposed_by, now)

    def experiments(self) -> list[Experiment]:
        """All experiment requests, newest first."""
        rows = self._db.execute("SELECT * FROM experiments ORDER BY id DESC").fetchall()
        return [Experiment(**dict(row)) for row in rows]

    def record_utterance(self, entry: dict[str, Any]) -> int:
        """Append one row to the audit log: transcript, intent, action, reply, timings."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO utterances (at, source, start, end, transcript, intent, action,"
                " reply, timings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time(),
                    entry["source"],
                    entry.get("start"),
                    entry.get("end"),
                    entry["transcript"],
                    json.dumps(entry["intent"]),
                    entry["action"],
                    entry["reply"],
                    json.dumps(entry.get("timings", {})),
                ),
            )
        return int(cursor.lastrowid or 0)

    def utterances(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit rows, newest first, with JSON columns decoded."""
        rows = self._db.execute(
            "SELECT * FROM utterances ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        decoded = []
        for row in rows:
            item = dict(row)
            item["intent"] = json.loads(item["intent"])
            item["timings"] = json.loads(item["timings"])
            decoded.append(item)
        return decoded
