"""The confirmation policy in front of the console: read back, then act only on a yes.

High-impact intents (cancelling, dispatching to an agent whose config says `confirm = true`),
actions the LLM fallback guessed (dispatch, cancel, experiment with `source = "llm"`),
and unsure parses (an agent matched fuzzily, or a dispatch or experiment whose words Whisper
was unsure of: see `doubt_heard`; confidence below `[intents] confirm_below`) are
read back as a question. The next `confirm` within `[listen] confirm_timeout_s` carries the
intent out; `deny`, the timeout, or any other command drops it. Only one question waits at a
time. Time is passed in (`now`, seconds on any monotonic scale), so the policy is pure apart
from the console it drives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from voicedesk.config import IntentSettings, Settings
from voicedesk.console import Console
from voicedesk.experiments.spoken import cancellable
from voicedesk.types import Intent, Outcome

_ACTIONS = frozenset({"dispatch", "cancel", "experiment"})
"""Intent types that change something: never carried out on the LLM's word alone."""


@dataclass(frozen=True)
class Pending:
    """An intent read back to the user, waiting for a yes until `deadline`."""

    intent: Intent
    summary: str
    deadline: float


_WORDY = frozenset({"dispatch", "experiment"})
"""Intents that carry the user's own words onward (a task, an experiment's description)."""


def doubt_heard(intent: Intent, score: float, settings: IntentSettings) -> Intent:
    """Lower a dispatch's or experiment's confidence to exp(score) when Whisper's score (mean
    log-probability per token) is below `confirm_score`, so garbled words are read back."""
    if intent.type not in _WORDY or score >= settings.confirm_score:
        return intent
    return replace(intent, confidence=round(min(intent.confidence, math.exp(score)), 3))


def summarise(intent: Intent) -> str:
    """A short spoken description of what an intent would do."""
    if intent.type == "cancel":
        what = "experiment" if intent.task == "experiment" else "job"
        return f"cancel {what} {intent.job}" if intent.job is not None else f"stop {intent.agent}"
    if intent.type == "dispatch":
        return f"send {intent.agent}: {intent.task}"
    if intent.type == "experiment":
        return f"queue an experiment: {intent.task}"
    target = f" job {intent.job}" if intent.job is not None else ""
    agent = f" {intent.agent}" if intent.agent else ""
    return f"{intent.type}{agent}{target}"


class Dialogue:
    """Decides whether an intent runs now or is read back first, and remembers the question."""

    def __init__(self, console: Console, settings: Settings) -> None:
        """Ask by the rules of `settings`, acting through `console`."""
        self.console = console
        self.timeout = settings.listen.confirm_timeout_s
        self.confirm_below = settings.intents.confirm_below
        self.careful_agents = {n for n, a in settings.agents.items() if a.confirm}
        self.pending: Pending | None = None

    def _question(self, intent: Intent) -> str | None:
        """The read-back question for an intent that needs a yes, else None."""
        if intent.source == "llm" and intent.type in _ACTIONS:
            return f"I think you meant: {summarise(intent)}. Say yes or no."
        unsure = intent.confidence < self.confirm_below
        if unsure and (intent.agent is not None or intent.type in _WORDY):
            return f"Did you mean: {summarise(intent)}? Say yes or no."
        if intent.type == "cancel" and intent.task == "experiment" and intent.job is not None:
            found = cancellable(self.console.ledger, intent.job)
            return f"Cancel experiment {found.id}? Say yes or no." if found else None
        if intent.type == "cancel":
            jobs = self.console.cancellable(intent)
            if not jobs:
                return None  # nothing to cancel: the console says so at once
            if intent.job is not None:
                return f"Cancel job {intent.job} ({jobs[0].agent})? Say yes or no."
            count = f"{len(jobs)} active job{'s' * (len(jobs) != 1)}"
            return f"Stop {intent.agent} and cancel its {count}? Say yes or no."
        if intent.type == "dispatch" and intent.agent in self.careful_agents:
            return f"Send {intent.agent}: {intent.task}? Say yes or no."
        return None

    def expire(self, now: float) -> Outcome | None:
        """Drop a question whose time is up; the notice saying so, if one was dropped."""
        if self.pending is None or now < self.pending.deadline:
            return None
        dropped, self.pending = self.pending, None
        return Outcome("expired", f"No answer, so I did not {dropped.summary}.", kind="notice")

    def handle(self, intent: Intent, now: float) -> list[Outcome]:
        """Act on one intent at time `now`: any expiry notice first, then the outcome."""
        outcomes = [notice] if (notice := self.expire(now)) is not None else []
        pending, self.pending = self.pending, None
        if intent.type == "confirm" and pending is not None:
            done = self.console.act(pending.intent)
            outcomes.append(
                Outcome(
                    f"confirmed:{done.action}",
                    done.reply,
                    done.job_ids,
                    done.experiment_ids,
                    done.kind,
                    done.parts,
                )
            )
            return outcomes
        if intent.type == "deny" and pending is not None:
            outcomes.append(Outcome("denied", f"OK, I won't {pending.summary}.", kind="done"))
            return outcomes
        question = self._question(intent)
        if question is None:
            outcomes.append(self.console.act(intent))
            return outcomes
        self.pending = Pending(intent, summarise(intent), now + self.timeout)
        outcomes.append(Outcome("asked", question, kind="question"))
        return outcomes
