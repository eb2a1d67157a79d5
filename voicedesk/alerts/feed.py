"""The alert feed: which job events and experiment results are worth telling (pure), and the
store side that turns them into `alerts` rows exactly once, whichever process collects first."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from voicedesk.alerts.texts import agent_title, capped, clause, needs_you, number, seconds
from voicedesk.store import Store
from voicedesk.types import Alert, Experiment, Job, JobEvent

EVENT_CURSOR = "alerts_event_cursor"
"""Mark: the id of the last job event the feed has looked at."""

ALERTS_SINCE = "alerts_since"
"""Mark: when alerts began on this store (the schema 4 migration); older results are history."""

_UNTOLD_KEEP = (
    "e.status = 'keep' AND e.metric_value IS NOT NULL AND e.finished_at >= ?"
    " AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.key = 'experiment:' || e.id || ':best')"
)
_BATCH = 500
_MAX_BATCHES = 20  # at most 10 000 events per collect(); the rest on the next call


UNSTORED = 0
"""The id of an alert not yet stored (a draft); the store gives it its own."""


def job_details(job: Job, outcome: str | None = None, label: str = "Result") -> str:
    """'Job 12 for frontend: add a toggle. Result: …. Took 2 min 5 s. Cost $0.42.'"""
    parts = [f"Job {job.id} for {job.agent}: {capped(job.task, 300).rstrip('.')}."]
    if outcome:
        parts.append(f"{label}: {capped(outcome).rstrip('.')}.")
    took = (job.finished_at - job.started_at) if job.started_at and job.finished_at else 0.0
    if took >= 1.0:
        parts.append(f"Took {seconds(took)}.")
    if job.cost_usd is not None:
        parts.append(f"Cost ${job.cost_usd:.2f}.")
    return " ".join(parts)


def _ended(event: JobEvent, job: Job, kind: str, verb: str, detail: str) -> Alert:
    """The alert of a job that finished (`verb` 'finished' or 'failed')."""
    short = clause(detail)
    text = f"Job {job.id}, {job.agent}, {verb}: {short}." if short else (
        f"Job {job.id}, {job.agent}, {verb}.")
    key = f"job:{job.id}:{'done' if kind == 'job_done' else 'failed'}"
    label = "Result" if kind == "job_done" else "Error"
    return Alert(UNSTORED, key, event.at, kind, text, job.id, None, job.agent,
                 job_details(job, detail or None, label))


def alert_for_event(event: JobEvent, job: Job, ask: str = "question") -> Alert | None:
    """The alert a job event raises: done, failed, or a question (or, `ask`, a permission
    request) for the user; else None."""
    if event.kind == "needs_input":
        text = needs_you(job.agent, job.id, event.message, ask)
        details = (f"{agent_title(job.agent)} is waiting on job {job.id}"
                   f" ({capped(job.task, 300).rstrip('.')}): {capped(event.message)}")
        return Alert(UNSTORED, f"job:{job.id}:input:{event.id}", event.at, "needs_input",
                     text, job.id, None, job.agent, details)
    if event.kind != "status":
        return None
    status, _, detail = event.message.partition(":")
    if status == "done":
        return _ended(event, job, "job_done", "finished", detail.strip())
    if status == "failed":
        return _ended(event, job, "job_failed", "failed", detail.strip())
    return None  # queued, running, queued again, cancelled (the user did it)


def experiment_details(exp: Experiment, previous_best: float | None = None) -> str:
    """A longer account of one finished experiment: what, metric, baseline, reason."""
    parts = [f"Experiment {exp.id}: {capped(exp.description, 300).rstrip('.')}."]
    if exp.metric_value is not None:
        parts.append(f"{exp.metric_name or 'metric'} {number(exp.metric_value)}"
                     f" on baseline {exp.baseline or 'none'}.")
    if previous_best is not None:
        parts.append(f"The best before was {number(previous_best)}.")
    if exp.reason:
        parts.append(f"Judged: {capped(exp.reason, 300).rstrip('.')}.")
    if exp.peak_vram_mb is not None:
        parts.append(f"Peak memory {exp.peak_vram_mb:.0f} MB.")
    if exp.commit_sha:
        parts.append(f"Commit {exp.commit_sha[:10]}.")
    return " ".join(parts)


def alert_for_experiment(exp: Experiment, previous_best: float | None) -> Alert | None:
    """'Experiment 4 is a new best: val_bpb 0.9405, down from 0.9605.' for a kept result."""
    if exp.status != "keep" or exp.metric_value is None:
        return None
    metric, value = exp.metric_name or "the metric", exp.metric_value
    if previous_best is None:
        than = "the first kept result"
    else:
        way = "down" if value < previous_best else "up"
        than = f"{way} from {number(previous_best)}"
    text = f"Experiment {exp.id} is a new best: {metric} {number(value)}, {than}."
    at = exp.finished_at or exp.updated_at or exp.created_at
    return Alert(UNSTORED, f"experiment:{exp.id}:best", at, "experiment_best", text, None,
                 exp.id, None, experiment_details(exp, previous_best))


def _alert(row: sqlite3.Row) -> Alert:
    """An alerts row as an Alert."""
    return Alert(**dict(row))


class AlertFeed:
    """Alerts in the store: collected from job events and the ledger, read back by id."""

    def __init__(self, store: Store) -> None:
        """Read and write alerts in `store` (on the thread that opened it)."""
        self.store = store

    def collect(self) -> list[Alert]:
        """Store the alerts of what happened since the last collect; return those THIS call
        inserted (another process may have stored the rest), oldest first."""
        if not self._anything_new():
            return []  # the common case: no write lock taken, nothing written
        with self.store.transaction() as db:
            cursor = int(_mark(db, EVENT_CURSOR) or 0)
            drafts: list[Alert] = []
            for _ in range(_MAX_BATCHES):
                events = self.store.events_since(cursor, _BATCH)
                for event in events:
                    cursor = event.id
                    job = self.store.job(event.job_id)
                    draft = alert_for_event(event, job, _ask(db, event)) if job else None
                    if draft is not None:
                        drafts.append(draft)
                if len(events) < _BATCH:
                    break
            drafts += self._experiment_drafts(db)
            inserted = [alert for draft in drafts if (alert := _insert(db, draft)) is not None]
            _set_mark(db, EVENT_CURSOR, cursor)
        return inserted

    def _anything_new(self) -> bool:
        """Whether collect() has anything to look at: events past the cursor, or a kept
        experiment with no alert (a read, outside any transaction)."""
        if self.store.last_event_id() > (self.mark(EVENT_CURSOR) or 0):
            return True
        return bool(self.store.query(
            f"SELECT 1 FROM experiments e WHERE {_UNTOLD_KEEP} LIMIT 1",
            (self.mark(ALERTS_SINCE) or 0.0,),
        ))

    def _experiment_drafts(self, db: sqlite3.Connection) -> list[Alert]:
        """Alerts for kept experiments finished since alerts began that have none yet."""
        since = _mark(db, ALERTS_SINCE) or 0.0
        rows = db.execute(
            f"SELECT * FROM experiments e WHERE {_UNTOLD_KEEP} ORDER BY finished_at, id",
            (since,),
        ).fetchall()
        drafts = []
        for row in rows:
            exp = Experiment(**dict(row))
            draft = alert_for_experiment(exp, _previous_best(db, exp))
            if draft is not None:
                drafts.append(draft)
        return drafts

    def since(self, alert_id: int, limit: int = 100) -> list[Alert]:
        """Alerts with an id above `alert_id`, oldest first."""
        rows = self.store.query(
            "SELECT * FROM alerts WHERE id > ? ORDER BY id LIMIT ?", (alert_id, limit)
        )
        return [_alert(row) for row in rows]

    def latest_id(self) -> int:
        """The id of the newest alert (0 when there are none)."""
        return int(self.store.query("SELECT COALESCE(MAX(id), 0) FROM alerts")[0][0])

    def mark(self, name: str) -> float | None:
        """The value of a mark, or None when it was never set."""
        rows = self.store.query("SELECT value FROM marks WHERE name = ?", (name,))
        return float(rows[0][0]) if rows else None

    def set_mark(self, name: str, value: float) -> None:
        """Set a mark (insert or replace)."""
        with self.store.transaction() as db:
            _set_mark(db, name, value)


def _mark(db: sqlite3.Connection, name: str) -> float | None:
    """A mark's value inside the caller's transaction."""
    row = db.execute("SELECT value FROM marks WHERE name = ?", (name,)).fetchone()
    return float(row[0]) if row else None


def _set_mark(db: sqlite3.Connection, name: str, value: float) -> None:
    """Set a mark inside the caller's transaction."""
    db.execute(
        "INSERT INTO marks (name, value) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value", (name, value),
    )


def _insert(db: sqlite3.Connection, draft: Alert) -> Alert | None:
    """Store a draft unless its key is already there; the stored alert, or None."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO alerts (key, at, kind, text, job_id, experiment_id, agent,"
        " details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (draft.key, draft.at, draft.kind, draft.text, draft.job_id, draft.experiment_id,
         draft.agent, draft.details),
    )
    stored = replace(draft, id=int(cursor.lastrowid or 0))
    return stored if cursor.rowcount == 1 else None


def _ask(db: sqlite3.Connection, event: JobEvent) -> str:
    """The kind of question a needs_input event asks ('permission' or 'question')."""
    if event.kind != "needs_input":
        return "question"
    row = db.execute("SELECT kind FROM questions WHERE job_id = ? AND prompt = ?"
                     " ORDER BY id DESC LIMIT 1", (event.job_id, event.message)).fetchone()
    return str(row[0]) if row else "question"


def _previous_best(db: sqlite3.Connection, exp: Experiment) -> float | None:
    """The best kept result `exp` beat: each keep beat every keep of its baseline before it
    (the ledger's rule), so that is the newest one finished before it."""
    row = db.execute(
        "SELECT metric_value FROM experiments WHERE status = 'keep' AND id != ?"
        " AND metric_value IS NOT NULL AND (? IS NULL OR baseline = ?)"
        " AND (finished_at < ? OR (finished_at = ? AND id < ?))"
        " ORDER BY finished_at DESC, id DESC LIMIT 1",
        (exp.id, exp.baseline, exp.baseline, exp.finished_at, exp.finished_at, exp.id),
    ).fetchone()
    return float(row[0]) if row else None
