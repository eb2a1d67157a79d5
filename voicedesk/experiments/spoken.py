"""What the console does and says about experiments: queue one by voice, report results,
cancel one. Each returns the Outcome the console hands back."""

from __future__ import annotations

from voicedesk.config import Settings
from voicedesk.experiments.ledger import Ledger, Submission, spoken_key
from voicedesk.store import Store
from voicedesk.types import ACTIVE_EXPERIMENT_STATUSES, Experiment, Outcome

NO_PATCH = (
    "it needs the change as a patch: send one with `voicedesk submit --patch` or POST "
    "/experiments, or set ANTHROPIC_API_KEY so a research agent writes it"
)


def patch_writer(settings: Settings) -> str | None:
    """The research agent that turns a spoken description into a patch, when one can."""
    from voicedesk.llm import api_key  # anthropic loads only when asked

    if api_key() is None or settings.experiments.repo is None:
        return None
    return next((name for name, a in settings.agents.items() if a.kind == "research"), None)


def queue_spoken(
    ledger: Ledger, store: Store, description: str, now: float, writer: str | None
) -> Outcome:
    """Record a spoken experiment; a research job writes its patch, or it waits for one."""
    key = spoken_key(description, ledger.settings.idempotency_window_s, now)
    waiting = (f"waiting for {writer} to write the patch" if writer else NO_PATCH)
    experiment, created = ledger.submit(
        Submission(description, "voice", idempotency_key=key, needs_change=waiting)
    )
    if not created:
        return Outcome("experiment_exists",
                       f"Experiment {experiment.id} is already {experiment.status}: "
                       f"{experiment.description}.", experiment_ids=(experiment.id,))
    if writer is None:
        return Outcome("experiment_needs_change",
                       f"Experiment {experiment.id} recorded: {description}. It waits for a "
                       "patch (`voicedesk experiments` says how to give it one).",
                       experiment_ids=(experiment.id,), kind="done")
    job = store.create_job(writer, f"write the patch for experiment {experiment.id}: {description}")
    return Outcome("experiment_queued",
                   f"Experiment {experiment.id}: {description}. {writer} is writing the patch "
                   f"(job {job.id}).", job_ids=(job.id,), experiment_ids=(experiment.id,),
                   kind="done")


def _age(seconds: float) -> str:
    """'40 seconds', '3 minutes', '2 hours'."""
    if seconds < 120:
        return f"{int(seconds)} seconds"
    if seconds < 7200:
        return f"{int(seconds // 60)} minutes"
    return f"{int(seconds // 3600)} hours"


def _best_line(ledger: Ledger) -> str | None:
    """'Best val_bpb 0.981, experiment 7 (halve the warmup), 0.012 better than the first
    kept result.'"""
    best = ledger.best()
    if best is None or best.metric_value is None:
        return None
    name = ledger.settings.metric_name
    kept = [e for e in ledger.all(("keep",)) if e.metric_value is not None]
    first = min(kept, key=lambda e: e.id)
    line = f"Best {name} {best.metric_value:g}, experiment {best.id} ({best.description})"
    if first.id != best.id and first.metric_value is not None:
        gain = abs(first.metric_value - best.metric_value)
        line += f", {gain:.4g} better than the baseline's {first.metric_value:g}"
    return line + "."


def results_answer(ledger: Ledger, now: float) -> Outcome:
    """The best result against the baseline, counts by status, and what is running."""
    counts = ledger.counts()
    if not counts:
        return Outcome("results", "No experiments yet.")
    parts = [line] if (line := _best_line(ledger)) else ["No results yet."]
    order = ("running", "queued", "needs_change", "keep", "discard", "crash", "cancelled")
    words = {"needs_change": "waiting for a patch", "keep": "kept", "discard": "discarded",
             "crash": "crashed"}
    tally = [f"{counts[s]} {words.get(s, s)}" for s in order if counts.get(s)]
    parts.append(", ".join(tally) + ".")
    for running in ledger.all(("running",)):
        elapsed = now - (running.started_at or now)
        parts.append(f"Experiment {running.id} has run {_age(elapsed)}: {running.description}.")
    ids = tuple(e.id for e in ledger.all(limit=20))
    return Outcome("results", " ".join(parts), experiment_ids=ids)


def cancellable(ledger: Ledger, experiment_id: int) -> Experiment | None:
    """The experiment a cancel would stop, if it is still active."""
    found = ledger.get(experiment_id)
    return found if found is not None and found.status in ACTIVE_EXPERIMENT_STATUSES else None


def cancel_spoken(ledger: Ledger, experiment_id: int) -> Outcome:
    """Cancel one experiment (a worker stops it if it is running)."""
    found = ledger.get(experiment_id)
    if found is None:
        return Outcome("rejected", f"There is no experiment {experiment_id}.", kind="refused")
    if ledger.cancel(experiment_id, "cancelled by voice") is None:
        return Outcome("rejected", f"Experiment {experiment_id} is already {found.status}.",
                       kind="refused")
    return Outcome("experiment_cancelled", f"Cancelled experiment {experiment_id}.",
                   experiment_ids=(experiment_id,), kind="done")
