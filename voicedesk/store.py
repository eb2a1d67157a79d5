"""SQLite store (WAL, synchronous=FULL): jobs, job events, experiments, the utterance audit log."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from voicedesk.errors import StoreError
from voicedesk.schema import SCHEMA_VERSION, migrate
from voicedesk.types import ACTIVE_JOB_STATUSES, Experiment, Job, JobEvent


@dataclass(frozen=True)
class JobOutcome:
    """How a run of a job ended, as the runner records it."""

    status: Literal["done", "failed", "queued"]
    result: str | None = None
    error: str | None = None
    log: str = ""
    session_id: str | None = None
    worktree: str | None = None
    cost_usd: float | None = None


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
        try:
            migrate(self._db, version)
        except sqlite3.Error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One IMMEDIATE transaction for modules that keep their own tables here (the ledger)."""
        return self._transaction()

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Rows of a read-only query."""
        return self._db.execute(sql, args).fetchall()

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
        if not 0 < job_id < 2**63:  # beyond SQLite's integers: no such job
            return None
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
        return self.experiment(int(cursor.lastrowid or 0))  # type: ignore[return-value]

    def experiment(self, experiment_id: int) -> Experiment | None:
        """The experiment with this id, or None."""
        if not 0 < experiment_id < 2**63:
            return None
        row = self._db.execute(
            "SELECT * FROM experiments WHERE id = ?", (experiment_id,)
        ).fetchone()
        return Experiment(**dict(row)) if row else None

    def experiments(self) -> list[Experiment]:
        """All experiment requests, newest first."""
        rows = self._db.execute("SELECT * FROM experiments ORDER BY id DESC").fetchall()
        return [Experiment(**dict(row)) for row in rows]

    def claim_job(self, owner: str, lease_s: float, agents: Collection[str]) -> Job | None:
        """Take the oldest queued job of one of `agents`: running, leased to `owner` for a while."""
        if not agents:
            return None
        now = time.time()
        with self._transaction() as db:
            row = db.execute(
                f"SELECT id FROM jobs WHERE status = 'queued' AND agent IN"
                f" ({','.join('?' * len(agents))}) ORDER BY id LIMIT 1",
                tuple(agents),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET status = 'running', lease_owner = ?, lease_expires = ?,"
                " attempts = attempts + 1, started_at = ?, updated_at = ? WHERE id = ?",
                (owner, now + lease_s, now, now, row["id"]),
            )
            self._event(db, row["id"], "status", f"running (runner {owner})", now)
        return self.job(row["id"])

    def renew_leases(self, owner: str, job_ids: Collection[int], lease_s: float) -> None:
        """Extend `owner`'s leases on its running jobs (the heartbeat)."""
        if not job_ids:
            return
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET lease_expires = ? WHERE status = 'running' AND lease_owner = ?"
                f" AND id IN ({','.join('?' * len(job_ids))})",
                (time.time() + lease_s, owner, *job_ids),
            )

    def finish_job(self, job_id: int, owner: str, outcome: JobOutcome) -> bool:
        """Record a run's end; the status changes only if `owner` still holds the running job."""
        now = time.time()
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET log = ?, session_id = COALESCE(?, session_id),"
                " worktree = COALESCE(?, worktree), cost_usd = COALESCE(?, cost_usd),"
                " finished_at = ? WHERE id = ?",
                (outcome.log, outcome.session_id, outcome.worktree, outcome.cost_usd, now, job_id),
            )
            cursor = db.execute(
                "UPDATE jobs SET status = ?, result = ?, error = ?, updated_at = ?,"
                " lease_owner = NULL, lease_expires = NULL"
                " WHERE id = ? AND status = 'running' AND lease_owner = ?",
                (outcome.status, outcome.result, outcome.error, now, job_id, owner),
            )
            if cursor.rowcount:
                detail = {"failed": outcome.error, "done": outcome.result}.get(outcome.status)
                plain = "queued again" if outcome.status == "queued" else outcome.status
                message = f"{outcome.status}: {detail}" if detail else plain
                self._event(db, job_id, "status", message, now)
        return bool(cursor.rowcount)

    def set_session(self, job_id: int, session_id: str) -> None:
        """Remember the agent session a job runs in (so a follow-up can resume it)."""
        with self._transaction() as db:
            db.execute("UPDATE jobs SET session_id = ? WHERE id = ?", (session_id, job_id))

    def last_session(self, agent: str, since: float) -> Job | None:
        """The agent's most recent job that finished done after `since` with a session."""
        row = self._db.execute(
            "SELECT * FROM jobs WHERE agent = ? AND status = 'done' AND session_id IS NOT NULL"
            " AND worktree IS NOT NULL AND finished_at >= ? ORDER BY finished_at DESC LIMIT 1",
            (agent, since),
        ).fetchone()
        return _job(row) if row else None

    def release_orphans(
        self, is_dead: Callable[[str], bool], requeue: bool, max_attempts: int
    ) -> list[Job]:
        """Jobs left running by a runner that died (lease expired, or its process is gone):
        re-queue them (if `requeue` and attempts remain) or fail them with the reason."""
        now, changed = time.time(), []
        with self._transaction() as db:
            rows = db.execute(
                "SELECT id, lease_owner, lease_expires, attempts FROM jobs WHERE status = 'running'"
            ).fetchall()
            for row in rows:
                owner, expired = row["lease_owner"] or "?", (row["lease_expires"] or 0) < now
                if not expired and not is_dead(owner):
                    continue
                why = "its lease expired" if expired else "its process is gone"
                if requeue and row["attempts"] < max_attempts:
                    status, error = "queued", None
                    message = f"queued again: runner {owner} stopped ({why})"
                else:
                    status = "failed"
                    error = f"the runner running it ({owner}) stopped: {why}"
                    message = f"failed: {error}"
                db.execute(
                    "UPDATE jobs SET status = ?, error = ?, updated_at = ?, lease_owner = NULL,"
                    " lease_expires = NULL WHERE id = ?",
                    (status, error, now, row["id"]),
                )
                self._event(db, row["id"], "status", message, now)
                changed.append(row["id"])
        return [job for job_id in changed if (job := self.job(job_id)) is not None]

    def last_event_id(self) -> int:
        """The id of the newest job event (0 when there are none)."""
        return int(self._db.execute("SELECT COALESCE(MAX(id), 0) FROM job_events").fetchone()[0])

    def events_since(self, after_id: int, limit: int = 500) -> list[JobEvent]:
        """Events of every job with an id above `after_id`, oldest first (for following)."""
        rows = self._db.execute(
            "SELECT * FROM job_events WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        ).fetchall()
        return [JobEvent(**dict(row)) for row in rows]

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
