"""The experiment ledger in the store: submit (idempotent), claim under a lease, heartbeat,
finish with a verdict, cancel, recover from dead workers, and the leaderboard."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from voicedesk.config import ExperimentSettings
from voicedesk.errors import StoreError
from voicedesk.experiments.judge import better, verdict
from voicedesk.store import Store
from voicedesk.types import ACTIVE_EXPERIMENT_STATUSES, Experiment

FINISHED = ("keep", "discard", "crash", "cancelled")
"""Statuses an experiment ends in."""


@dataclass(frozen=True)
class Submission:
    """A request for one experiment."""

    description: str
    proposed_by: str
    command: str | None = None
    repo: str | None = None
    baseline: str | None = None
    base_commit: str | None = None
    patch: str | None = None
    branch: str | None = None
    hypothesis: str | None = None
    budget_s: float | None = None
    hard_limit_s: float | None = None
    idempotency_key: str | None = None
    needs_change: str | None = None


@dataclass(frozen=True)
class RunResult:
    """How one run ended, as a worker reports it."""

    exit_code: int | None
    metric: float | None
    peak_vram_mb: float | None
    log_path: str
    commit_sha: str | None = None
    timed_out: bool = False
    reason: str | None = None


def spoken_key(description: str, window_s: float, now: float) -> str:
    """An idempotency key for a spoken request: the same words in the same window."""
    bucket = int(now // window_s) if window_s > 0 else int(now * 1000)
    words = " ".join(description.lower().split())
    return "voice:" + hashlib.sha256(f"{bucket}:{words}".encode()).hexdigest()[:24]


def _row(row: Any) -> Experiment:
    """A ledger row as an Experiment."""
    return Experiment(**dict(row))


class Ledger:
    """Every experiment and its result, in the store's `experiments` table."""

    def __init__(
        self, store: Store, settings: ExperimentSettings, clock: Callable[[], float] = time.time
    ) -> None:
        """Keep the ledger in `store`, judged by `settings`."""
        self.store, self.settings, self.clock = store, settings, clock

    def get(self, experiment_id: int) -> Experiment | None:
        """One experiment, or None."""
        return self.store.experiment(experiment_id)

    def all(self, statuses: tuple[str, ...] = (), limit: int = 500) -> list[Experiment]:
        """Experiments, newest first, optionally of some statuses."""
        where = f" WHERE status IN ({','.join('?' * len(statuses))})" if statuses else ""
        rows = self.store.query(
            f"SELECT * FROM experiments{where} ORDER BY id DESC LIMIT ?", (*statuses, limit)
        )
        return [_row(row) for row in rows]

    def submit(self, sub: Submission) -> tuple[Experiment, bool]:
        """Queue one experiment; (it, True), or (the first one, False) for a repeated key."""
        if sub.idempotency_key is not None:
            found = self._by_key(sub.idempotency_key)
            if found is not None:
                return found, False
        s, now = self.settings, self.clock()
        status = "needs_change" if sub.needs_change else "queued"
        values = {
            "description": sub.description, "status": status, "proposed_by": sub.proposed_by,
            "created_at": now, "updated_at": now, "hypothesis": sub.hypothesis,
            "repo": sub.repo or (str(s.repo) if s.repo else None),
            "baseline": sub.baseline or s.baseline_branch, "base_commit": sub.base_commit,
            "patch": sub.patch, "branch": sub.branch, "command": sub.command or s.command,
            "budget_s": sub.budget_s or s.budget_s,
            "hard_limit_s": sub.hard_limit_s or s.hard_limit_s,
            "metric_name": s.metric_name, "reason": sub.needs_change,
            "idempotency_key": sub.idempotency_key, "backend": s.backend,
        }
        try:
            with self.store.transaction() as db:
                cursor = db.execute(
                    f"INSERT INTO experiments ({', '.join(values)})"
                    f" VALUES ({', '.join('?' * len(values))})",
                    tuple(values.values()),
                )
        except StoreError:
            if sub.idempotency_key and (found := self._by_key(sub.idempotency_key)):
                return found, False  # a concurrent submission with the same key won
            raise
        return self.get(int(cursor.lastrowid or 0)), True  # type: ignore[return-value]

    def _by_key(self, key: str) -> Experiment | None:
        """The experiment submitted under an idempotency key."""
        rows = self.store.query("SELECT * FROM experiments WHERE idempotency_key = ?", (key,))
        return _row(rows[0]) if rows else None

    def _update(self, experiment_id: int, where: str, args: tuple[Any, ...],
                **values: Any) -> bool:
        """Set columns on one experiment if `where` still holds; whether it did."""
        values["updated_at"] = self.clock()
        sets = ", ".join(f"{name} = ?" for name in values)
        with self.store.transaction() as db:
            cursor = db.execute(
                f"UPDATE experiments SET {sets} WHERE id = ? AND {where}",
                (*values.values(), experiment_id, *args),
            )
        return bool(cursor.rowcount)

    def claim(
        self, worker: str, gpu: str | None = None, shared_gpu: bool | None = None
    ) -> Experiment | None:
        """Take the oldest queued experiment: running, leased to `worker`."""
        now = self.clock()
        with self.store.transaction() as db:
            row = db.execute(
                "SELECT id FROM experiments WHERE status = 'queued' ORDER BY id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE experiments SET status = 'running', lease_owner = ?, lease_expires = ?,"
                " attempts = attempts + 1, worker = ?, gpu = ?, shared_gpu = ?, started_at = ?,"
                " updated_at = ? WHERE id = ?",
                (worker, now + self.settings.lease_s, worker, gpu,
                 None if shared_gpu is None else int(shared_gpu), now, now, row["id"]),
            )
        return self.get(row["id"])

    def heartbeat(self, experiment_id: int, worker: str) -> bool:
        """Renew `worker`'s lease; False when the run is no longer its own (cancelled, lost)."""
        return self._update(
            experiment_id, "status = 'running' AND lease_owner = ?", (worker,),
            lease_expires=self.clock() + self.settings.lease_s,
        )

    def set_log(self, experiment_id: int, log_path: str) -> None:
        """Record where a run writes its log (as soon as it starts)."""
        self._update(experiment_id, "1 = 1", (), log_path=log_path)

    def finish(self, experiment_id: int, worker: str, result: RunResult) -> Experiment | None:
        """Record a run's end: keep, discard, crash, or queued again for another attempt."""
        current = self.get(experiment_id)
        if current is None or current.status != "running" or current.lease_owner != worker:
            if current is not None and current.status == "cancelled":  # keep what it measured
                self._update(experiment_id, "1 = 1", (), log_path=result.log_path,
                             metric_value=result.metric, peak_vram_mb=result.peak_vram_mb)
            return self.get(experiment_id)
        status, reason = self._judge(current, result)
        self._update(
            experiment_id, "status = 'running' AND lease_owner = ?", (worker,),
            status=status, reason=reason, metric_value=result.metric,
            peak_vram_mb=result.peak_vram_mb, log_path=result.log_path,
            commit_sha=result.commit_sha, lease_owner=None, lease_expires=None,
            finished_at=None if status == "queued" else self.clock(),
        )
        return self.get(experiment_id)

    def _judge(self, current: Experiment, result: RunResult) -> tuple[str, str | None]:
        """The status a finished run earns, and why."""
        if result.timed_out:
            limit = f"killed at the hard limit of {current.hard_limit_s:g} s"
            return "crash", result.reason or limit
        failure = result.reason
        if failure is None and result.exit_code not in (0, None):
            failure = f"exited with code {result.exit_code}"
        if failure is None and result.metric is None:
            failure = f"the log has no {current.metric_name} line"
        if failure is not None:
            if current.attempts < self.settings.max_attempts:
                return "queued", f"attempt {current.attempts} failed: {failure}"
            return "crash", f"{failure} (after {current.attempts} attempts)"
        best = self.best(current.baseline)
        best_value = best.metric_value if best is not None else None
        status = verdict(result.metric, best_value, self.settings.direction)  # type: ignore[arg-type]
        than = f"{best_value:g}" if best_value is not None else "no kept result yet"
        return status, f"{self.settings.metric_name} {result.metric:g} vs best kept {than}"

    def attach_patch(self, experiment_id: int, patch: str) -> Experiment | None:
        """Give a waiting experiment its patch, which queues it; None if it was not waiting."""
        changed = self._update(experiment_id, "status = 'needs_change'", (),
                               patch=patch, status="queued", reason=None)
        return self.get(experiment_id) if changed else None

    def cancel(self, experiment_id: int, reason: str) -> Experiment | None:
        """Cancel a queued, waiting or running experiment (a worker stops a running one)."""
        active = ",".join(f"'{s}'" for s in ACTIVE_EXPERIMENT_STATUSES)
        changed = self._update(experiment_id, f"status IN ({active})", (),
                               status="cancelled", reason=reason, finished_at=self.clock())
        return self.get(experiment_id) if changed else None

    def release_orphans(self, is_dead: Callable[[str], bool]) -> list[Experiment]:
        """Running experiments whose worker died: queued again while attempts remain, else
        crash with the reason. Never left running."""
        now, changed = self.clock(), []
        for row in self.store.query("SELECT * FROM experiments WHERE status = 'running'"):
            owner, expired = row["lease_owner"] or "?", (row["lease_expires"] or 0) < now
            if not expired and not is_dead(owner):
                continue
            why = f"worker {owner} stopped ({'lease expired' if expired else 'process gone'})"
            retry = row["attempts"] < self.settings.max_attempts
            status, reason = ("queued", why) if retry else ("crash", f"{why}, out of attempts")
            if self._update(row["id"], "status = 'running' AND lease_owner = ?", (owner,),
                            status=status, reason=reason, lease_owner=None, lease_expires=None):
                changed.append(row["id"])
        return [e for i in changed if (e := self.get(i)) is not None]

    def best(self, baseline: str | None = None) -> Experiment | None:
        """The best kept result (of one baseline, or of all)."""
        kept = [e for e in self.all(("keep",)) if baseline is None or e.baseline == baseline]
        best: Experiment | None = None
        for e in kept:
            if e.metric_value is not None and (best is None or better(
                e.metric_value, best.metric_value, self.settings.direction
            )):
                best = e
        return best

    def leaderboard(self, limit: int = 20) -> list[Experiment]:
        """Judged results, best first (kept and discarded)."""
        judged = [e for e in self.all(("keep", "discard")) if e.metric_value is not None]
        judged.sort(key=lambda e: e.metric_value or 0.0,
                    reverse=self.settings.direction == "higher")
        return judged[:limit]

    def counts(self) -> dict[str, int]:
        """How many experiments have each status."""
        rows = self.store.query("SELECT status, COUNT(*) AS n FROM experiments GROUP BY status")
        return {row["status"]: row["n"] for row in rows}
