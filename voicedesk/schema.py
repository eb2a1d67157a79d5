"""The store's SQLite schema and its migrations, one step per version."""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 4
"""The schema this code writes; stored in PRAGMA user_version."""

_VERSION_1 = """
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

_VERSION_2 = """
ALTER TABLE jobs ADD COLUMN log TEXT;
ALTER TABLE jobs ADD COLUMN session_id TEXT;
ALTER TABLE jobs ADD COLUMN worktree TEXT;
ALTER TABLE jobs ADD COLUMN cost_usd REAL;
ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN started_at REAL;
ALTER TABLE jobs ADD COLUMN finished_at REAL;
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires REAL;
CREATE INDEX jobs_by_status ON jobs (status, id);
"""

_VERSION_3 = """
ALTER TABLE experiments ADD COLUMN hypothesis TEXT;
ALTER TABLE experiments ADD COLUMN repo TEXT;
ALTER TABLE experiments ADD COLUMN baseline TEXT;
ALTER TABLE experiments ADD COLUMN base_commit TEXT;
ALTER TABLE experiments ADD COLUMN patch TEXT;
ALTER TABLE experiments ADD COLUMN branch TEXT;
ALTER TABLE experiments ADD COLUMN command TEXT;
ALTER TABLE experiments ADD COLUMN budget_s REAL;
ALTER TABLE experiments ADD COLUMN hard_limit_s REAL;
ALTER TABLE experiments ADD COLUMN metric_name TEXT;
ALTER TABLE experiments ADD COLUMN metric_value REAL;
ALTER TABLE experiments ADD COLUMN peak_vram_mb REAL;
ALTER TABLE experiments ADD COLUMN commit_sha TEXT;
ALTER TABLE experiments ADD COLUMN log_path TEXT;
ALTER TABLE experiments ADD COLUMN reason TEXT;
ALTER TABLE experiments ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE experiments ADD COLUMN worker TEXT;
ALTER TABLE experiments ADD COLUMN gpu TEXT;
ALTER TABLE experiments ADD COLUMN shared_gpu INTEGER;
ALTER TABLE experiments ADD COLUMN backend TEXT;
ALTER TABLE experiments ADD COLUMN lease_owner TEXT;
ALTER TABLE experiments ADD COLUMN lease_expires REAL;
ALTER TABLE experiments ADD COLUMN started_at REAL;
ALTER TABLE experiments ADD COLUMN finished_at REAL;
ALTER TABLE experiments ADD COLUMN updated_at REAL;
ALTER TABLE experiments ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX experiments_by_key ON experiments (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX experiments_by_status ON experiments (status, id);
"""

_VERSION_4 = """
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    job_id INTEGER,
    experiment_id INTEGER,
    agent TEXT,
    details TEXT NOT NULL DEFAULT ''
);
CREATE TABLE questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL REFERENCES jobs (id),
    agent TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('permission','question')),
    prompt TEXT NOT NULL,
    asked_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open','answered','closed')),
    answer TEXT,
    answered_at REAL
);
CREATE INDEX questions_open ON questions (status, agent, id);
CREATE TABLE marks (
    name TEXT PRIMARY KEY,
    value REAL NOT NULL
);
INSERT INTO marks (name, value)
    SELECT 'alerts_event_cursor', COALESCE(MAX(id), 0) FROM job_events;
INSERT INTO marks (name, value) VALUES ('alerts_since', (julianday('now') - 2440587.5) * 86400.0);
"""

STEPS: tuple[str, ...] = (_VERSION_1, _VERSION_2, _VERSION_3, _VERSION_4)
"""STEPS[n] brings a file at version n to version n + 1."""


def migrate(db: sqlite3.Connection, version: int) -> None:
    """Apply every step after `version`, each in its own transaction with its version bump."""
    for step in range(version, SCHEMA_VERSION):
        db.executescript(f"BEGIN IMMEDIATE;{STEPS[step]}PRAGMA user_version={step + 1}; COMMIT;")
