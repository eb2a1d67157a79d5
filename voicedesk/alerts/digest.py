"""The stand-up: what happened since the last one, in the order it matters (pure), read from
the store since the 'digest_alert_id' and 'digest_at' marks, and marked once it was given."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from voicedesk.alerts.feed import ALERTS_SINCE, AlertFeed, experiment_details
from voicedesk.alerts.texts import agent_title, capped, clause, count, listed, needs_you, number
from voicedesk.store import Store
from voicedesk.types import ACTIVE_JOB_STATUSES, Alert, Experiment, Job, JobEvent, Question

DIGEST_ALERT_ID = "digest_alert_id"
"""Mark: the newest alert the last stand-up covered."""

DIGEST_AT = "digest_at"
"""Mark: the time the last stand-up covered up to (questions and experiments)."""

DIGEST_PENDING_AT = "digest_pending_at"
"""Mark: the time the latest collected stand-up covers up to, until mark_digest keeps it."""

NOTHING_NEW = "Nothing new since your last stand-up."
"""The whole stand-up when nothing happened."""

GROUP_OVER = 3
"""More discards (or crashes) than this are told as one item."""

_RECENT_EVENTS = 3


@dataclass(frozen=True)
class DigestItem:
    """One thing the stand-up says: a short spoken sentence, and more on asking for details."""

    text: str
    details: str = ""
    job_id: int | None = None
    experiment_id: int | None = None
    kind: str = ""


@dataclass(frozen=True)
class Digest:
    """A stand-up as collected: its opening line, its items, and what it covered."""

    opening: str
    items: list[DigestItem]
    up_to: int
    until: float
    since: float = 0.0

    def lines(self) -> list[str]:
        """The spoken sentences, in order: the opening line, then one per item."""
        return [self.opening, *(item.text for item in self.items)]


def _question_item(q: Question, jobs: Mapping[int, Job]) -> DigestItem:
    """An agent waiting on the user."""
    job = jobs.get(q.job_id)
    task = f" ({capped(job.task, 300).rstrip('.')})" if job is not None else ""
    what = "asks permission" if q.kind == "permission" else "asks"
    details = f"{agent_title(q.agent)} {what} on job {q.job_id}{task}: {capped(q.prompt)}"
    return DigestItem(needs_you(q.agent, q.job_id, q.prompt, q.kind), details, q.job_id, None,
                      "needs_input")


def _routine(event: JobEvent) -> bool:
    """A status change the digest's sentence already tells (queued, running, the end)."""
    return event.kind == "status" and (event.message == "queued" or event.message.startswith(
        ("running", "done:", "failed:", "cancelled:")))


def _recent(events: Sequence[JobEvent]) -> str:
    """' Last events: note: ran the tests; progress: 3 files.' from a job's last events."""
    earlier = [e for e in events if not _routine(e)][-_RECENT_EVENTS:]
    if not earlier:
        return ""
    said = "; ".join(f"{e.kind}: {capped(e.message, 120)}" for e in earlier)
    return f" Last events: {said}."


def _job_item(alert: Alert, events: Mapping[int, Sequence[JobEvent]]) -> DigestItem:
    """A job that finished or failed: the alert's sentence, its details and last events."""
    recent = _recent(events.get(alert.job_id, ())) if alert.job_id is not None else ""
    return DigestItem(alert.text, alert.details + recent, alert.job_id, None, alert.kind)


def _kept_item(exp: Experiment) -> DigestItem:
    """A kept result with no alert of its own (it beat the best at the time)."""
    metric = f": {exp.metric_name or 'metric'} {number(exp.metric_value)}" if (
        exp.metric_value is not None) else ""
    return DigestItem(f"Experiment {exp.id} is a new best{metric}.", experiment_details(exp),
                      None, exp.id, "experiment_best")


def _other_item(exp: Experiment) -> DigestItem:
    """A discard or a crash, briefly."""
    if exp.status == "discard":
        value = f": {exp.metric_name or 'metric'} {number(exp.metric_value)}" if (
            exp.metric_value is not None) else ""
        text = f"Experiment {exp.id} was discarded{value}."
    else:
        why = clause(exp.reason or "", 60)
        text = f"Experiment {exp.id} crashed: {why}." if why else f"Experiment {exp.id} crashed."
    return DigestItem(text, experiment_details(exp), None, exp.id, f"experiment_{exp.status}")


def _others(exps: Sequence[Experiment], status: str, verb: str) -> list[DigestItem]:
    """Discards (or crashes) one by one, or as one item when there are many."""
    chosen = [e for e in exps if e.status == status]
    if len(chosen) <= GROUP_OVER:
        return [_other_item(e) for e in chosen]
    ids = listed([str(e.id) for e in chosen])
    details = " ".join(experiment_details(e) for e in chosen)
    return [DigestItem(f"{len(chosen)} experiments {verb}: {ids}.", details, None, None,
                       f"experiment_{status}")]


@dataclass(frozen=True)
class _Counts:
    """How many of each thing the stand-up tells."""

    agents: int = 0
    failures: int = 0
    done: int = 0
    bests: int = 0
    discards: int = 0
    crashes: int = 0


def _opening(n: _Counts) -> DigestItem:
    """'Since your last stand-up: 1 agent needs you, 2 failures, 3 finished jobs, 1 new best.'"""
    parts = [
        (n.agents, "agent needs you", "agents need you"),
        (n.failures, "failure", "failures"),
        (n.done, "finished job", "finished jobs"),
        (n.bests, "new best", "new bests"),
        (n.discards, "discarded experiment", "discarded experiments"),
        (n.crashes, "crashed experiment", "crashed experiments"),
    ]
    said = [count(k, one, many) for k, one, many in parts if k]
    if not said:
        return DigestItem(NOTHING_NEW, "", kind="summary")
    return DigestItem(f"Since your last stand-up: {', '.join(said)}.", "", kind="summary")


def build_digest(
    alerts: Sequence[Alert],
    open_questions: Sequence[Question],
    experiments_since: Sequence[Experiment],
    jobs: Mapping[int, Job] | None = None,
    events: Mapping[int, Sequence[JobEvent]] | None = None,
) -> list[DigestItem]:
    """The stand-up: first the opening line (kind 'summary'), then agents needing input (newest
    last), failures, finished jobs, new bests, discards and crashes; just NOTHING_NEW if empty."""
    jobs, events = jobs or {}, events or {}
    ordered = sorted(alerts, key=lambda a: a.id)
    asks = [_question_item(q, jobs) for q in sorted(open_questions, key=lambda q: (
        q.asked_at, q.id))]
    failed = [_job_item(a, events) for a in ordered if a.kind == "job_failed"]
    done = [_job_item(a, events) for a in ordered if a.kind == "job_done"]
    best_alerts = [a for a in ordered if a.kind == "experiment_best"]
    told = {a.experiment_id for a in best_alerts}
    bests = [DigestItem(a.text, a.details, None, a.experiment_id, a.kind) for a in best_alerts]
    rest = sorted((e for e in experiments_since if e.id not in told),
                  key=lambda e: (e.finished_at or 0.0, e.id))
    bests += [_kept_item(e) for e in rest if e.status == "keep"]
    others = _others(rest, "discard", "were discarded") + _others(rest, "crash", "crashed")
    counts = _Counts(
        len({q.agent for q in open_questions}), len(failed), len(done), len(bests),
        sum(1 for e in rest if e.status == "discard"), sum(1 for e in rest if e.status == "crash"),
    )
    return [_opening(counts), *asks, *failed, *done, *bests, *others]


def _alerts_after(feed: AlertFeed, after_id: int) -> list[Alert]:
    """Every alert with an id above `after_id`, oldest first."""
    alerts: list[Alert] = []
    while batch := feed.since(alerts[-1].id if alerts else after_id, 500):
        alerts += batch
    return alerts


def _since(feed: AlertFeed) -> float:
    """Where the last stand-up ended; the first covers since alerts began."""
    for name in (DIGEST_AT, ALERTS_SINCE):
        value = feed.mark(name)
        if value is not None:
            return value
    return 0.0


def collect_digest(store: Store, now: float | None = None) -> Digest:
    """The stand-up since the last one (the first covers since alerts began): collects the
    feed first, so nothing is missed when no watcher ran."""
    now = time.time() if now is None else now
    feed = AlertFeed(store)
    feed.collect()
    after_id, since = int(feed.mark(DIGEST_ALERT_ID) or 0), _since(feed)
    alerts = _alerts_after(feed, after_id)
    active = ",".join(f"'{status}'" for status in ACTIVE_JOB_STATUSES)
    questions = [Question(**dict(row)) for row in store.query(
        "SELECT q.* FROM questions q JOIN jobs j ON j.id = q.job_id WHERE q.status = 'open'"
        f" AND j.status IN ({active}) AND q.asked_at > ? AND q.asked_at <= ?"
        " ORDER BY q.asked_at, q.id", (since, now))]
    experiments = [Experiment(**dict(row)) for row in store.query(
        "SELECT * FROM experiments WHERE status IN ('keep', 'discard', 'crash')"
        " AND finished_at > ? AND finished_at <= ? ORDER BY finished_at, id", (since, now))]
    job_ids = {a.job_id for a in alerts if a.job_id is not None} | {q.job_id for q in questions}
    jobs = {i: job for i in job_ids if (job := store.job(i)) is not None}
    events = {i: store.events(i)[-50:] for i in job_ids}
    opening, *items = build_digest(alerts, questions, experiments, jobs, events)
    feed.set_mark(DIGEST_PENDING_AT, now)
    return Digest(opening.text, items, alerts[-1].id if alerts else after_id, now, since)


def mark_digest(store: Store, up_to_alert_id: int, until: float | None = None) -> None:
    """Record that a stand-up was given: alerts up to `up_to_alert_id` (Digest.up_to), the rest
    up to `until` (default: what the last collect_digest covered). Marks only move forward."""
    with store.transaction() as db:
        if until is None:
            row = db.execute("SELECT value FROM marks WHERE name = ?",
                             (DIGEST_PENDING_AT,)).fetchone()
            until = float(row[0]) if row else time.time()
        for name, value in ((DIGEST_ALERT_ID, float(up_to_alert_id)), (DIGEST_AT, until)):
            db.execute(
                "INSERT INTO marks (name, value) VALUES (?, ?) ON CONFLICT (name)"
                " DO UPDATE SET value = MAX(value, excluded.value)", (name, value),
            )
