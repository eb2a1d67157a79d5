"""The console: acts on one intent against the store and answers in one short line."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from voicedesk.agents.answering import answer_waiting, waiting_suffix
from voicedesk.agents.progress import last_step
from voicedesk.agents.questions import Questions
from voicedesk.alerts.digest import DigestItem, collect_digest, mark_digest
from voicedesk.config import ExperimentSettings
from voicedesk.experiments.ledger import Ledger
from voicedesk.experiments.spoken import cancel_spoken, queue_spoken, results_answer
from voicedesk.store import Store
from voicedesk.types import ACTIVE_JOB_STATUSES, Intent, Job, Outcome


def _age(seconds: float) -> str:
    """A spoken-style duration: 'a few seconds', '4 minutes', '2 hours'."""
    if seconds < 60:
        return "a few seconds"
    if seconds < 3600:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' * (minutes != 1)}"
    hours = int(seconds // 3600)
    return f"{hours} hour{'s' * (hours != 1)}"


def _plural(count: int, noun: str) -> str:
    """'1 job', '3 jobs'."""
    return f"{count} {noun}{'s' * (count != 1)}"


def _job_list(jobs: Iterable[Job]) -> str:
    """'#3 frontend queued, #2 backend running'."""
    return ", ".join(f"#{job.id} {job.agent} {job.status}" for job in jobs)


def _refuse(reply: str) -> Outcome:
    """An intent the console will not carry out, and why."""
    return Outcome("rejected", reply, kind="refused")


def _done(action: str, reply: str, job_ids: tuple[int, ...] = ()) -> Outcome:
    """An intent carried out: what changed and the jobs it touched."""
    return Outcome(action, reply, job_ids=job_ids, kind="done")


class Console:
    """Turns intents into jobs, cancellations, experiment requests and status answers."""

    def __init__(
        self,
        store: Store,
        agents: Iterable[str],
        clock: Callable[[], float] = time.time,
        experiments: ExperimentSettings | None = None,
        patch_writer: str | None = None,
    ) -> None:
        """Act against `store` for the configured agent names; `patch_writer` is the research
        agent that writes patches for spoken experiments (None: they wait for one)."""
        self.store = store
        self.agents = frozenset(agents)
        self.clock = clock
        self.ledger = Ledger(store, experiments or ExperimentSettings(), clock)
        self.patch_writer = patch_writer
        self.questions = Questions(store, clock)
        self.digest_items: list[DigestItem] = []
        self.digest_position = 0

    def act(self, intent: Intent) -> Outcome:
        """Carry out one intent and say what was done."""
        handler = getattr(self, f"_{intent.type}", None)
        if handler is None:
            return Outcome("none", f"I can't act on a {intent.type} intent.")
        outcome: Outcome = handler(intent)
        return outcome

    def _dispatch(self, intent: Intent) -> Outcome:
        """Answer the named agent's open question with the task, or queue a job for it."""
        if intent.agent not in self.agents:
            return _refuse(f"There is no agent called {intent.agent}.")
        if not intent.task:
            return _refuse(f"What should {intent.agent} do? I heard no task.")
        if (told := answer_waiting(self.questions, intent.agent, intent.task)) is not None:
            return told
        job = self.store.create_job(intent.agent, intent.task)
        return _done(
            "job_created", f"Job {job.id} queued for {job.agent}: {job.task}.", job_ids=(job.id,)
        )

    def _status(self, intent: Intent) -> Outcome:
        """Answer for one job, one agent, or everything active."""
        if intent.job is not None:
            return self._job_status(intent.job)
        if intent.agent is not None:
            return self._agent_status(intent.agent)
        active = self.store.jobs(statuses=ACTIVE_JOB_STATUSES)
        if not active:
            return Outcome("status", "Nothing is running or queued.")
        return Outcome(
            "status",
            f"{_plural(len(active), 'active job')}: {_job_list(active)}.",
            job_ids=tuple(job.id for job in active),
        )

    def _job_status(self, job_id: int) -> Outcome:
        """Say how one job is doing."""
        job = self.store.job(job_id)
        if job is None:
            return Outcome("status", f"There is no job {job_id}.")
        age = _age(self.clock() - job.updated_at)
        detail = job.error or job.result or job.task
        step = last_step(self.store.events(job.id)) if job.status == "running" else None
        if step is not None:
            detail = f"{detail}, last step: {step}"
        detail += waiting_suffix(self.questions, job.id)
        return Outcome(
            "status",
            f"Job {job.id}, {job.agent}: {job.status} for {age} — {detail}.",
            job_ids=(job.id,),
        )

    def _agent_status(self, agent: str) -> Outcome:
        """Say what one agent is working on."""
        active = self.store.jobs(agent=agent, statuses=ACTIVE_JOB_STATUSES)
        if not active:
            return Outcome("status", f"{agent} has no active jobs.")
        tasks = "; ".join(
            f"#{job.id} {job.status}: {job.task}{waiting_suffix(self.questions, job.id)}"
            for job in active
        )
        return Outcome(
            "status",
            f"{agent} has {_plural(len(active), 'active job')}: {tasks}.",
            job_ids=tuple(job.id for job in active),
        )

    def cancellable(self, intent: Intent) -> list[Job]:
        """The active jobs a cancel intent would stop (none: it would be refused)."""
        if intent.task == "experiment":
            return []
        if intent.job is not None:
            job = self.store.job(intent.job)
            return [job] if job is not None and job.status in ACTIVE_JOB_STATUSES else []
        return self.store.jobs(agent=intent.agent, statuses=ACTIVE_JOB_STATUSES)

    def _cancel(self, intent: Intent) -> Outcome:
        """Cancel one job, or every active job of one agent."""
        if intent.task == "experiment" and intent.job is not None:
            return cancel_spoken(self.ledger, intent.job)
        if intent.job is not None:
            job = self.store.job(intent.job)
            if job is None:
                return _refuse(f"There is no job {intent.job}.")
            if job.status not in ACTIVE_JOB_STATUSES:
                return _refuse(f"Job {job.id} is already {job.status}.")
            self.store.cancel_jobs([job.id], "cancelled by voice")
            return _done("cancelled", f"Cancelled job {job.id} ({job.agent}).", job_ids=(job.id,))
        active = self.cancellable(intent)
        if not active:
            return _refuse(f"{intent.agent} has nothing to cancel.")
        done = self.store.cancel_jobs([job.id for job in active], "cancelled by voice")
        ids = tuple(job.id for job in done)
        listed = ", ".join(f"#{job_id}" for job_id in ids)
        return _done(
            "cancelled",
            f"Cancelled {_plural(len(ids), 'job')} of {intent.agent}: {listed}.",
            job_ids=ids,
        )

    def _experiment(self, intent: Intent) -> Outcome:
        """Record an experiment: its patch is written by a research agent, or awaited."""
        if not intent.task:
            return _refuse("What should the experiment change? I heard no description.")
        return queue_spoken(self.ledger, self.store, intent.task, self.clock(), self.patch_writer)

    def _results(self, intent: Intent) -> Outcome:
        """The best result, how it compares to the baseline, and what is running."""
        return results_answer(self.ledger, self.clock())

    def _standup(self, intent: Intent) -> Outcome:
        """The digest of everything since the last one, item by item (each interruptible)."""
        digest = collect_digest(self.store, self.clock())
        mark_digest(self.store, digest.up_to)
        self.digest_items, self.digest_position = list(digest.items), 0
        parts = (digest.opening, *(item.text for item in digest.items))
        return Outcome("standup", " ".join(parts), parts=parts)

    def spoken_part(self, index: int) -> None:
        """Part `index` of the last stand-up began to sound (0 is its opening line)."""
        self.digest_position = max(0, index - 1)

    def _details(self, intent: Intent) -> Outcome:
        """More about the stand-up item spoken last (or being spoken)."""
        if not self.digest_items:
            return Outcome("none", "There is nothing to give details on: say stand-up first.")
        item = self.digest_items[min(self.digest_position, len(self.digest_items) - 1)]
        return Outcome("details", item.details or item.text)

    def _confirm(self, intent: Intent) -> Outcome:
        """A yes with no read-back pending: the answer to the one agent waiting, if one is."""
        return self._answer_the_only_question("yes") or Outcome(
            "none", "Nothing is waiting for a yes."
        )

    def _deny(self, intent: Intent) -> Outcome:
        """A no with no read-back pending: the answer to the one agent waiting, if one is."""
        return self._answer_the_only_question("no") or Outcome(
            "none", "Nothing is waiting for a no."
        )

    def _answer_the_only_question(self, answer: str) -> Outcome | None:
        """Answer the open question when exactly one agent is waiting (else say nothing)."""
        waiting = self.questions.open()
        if len({question.agent for question in waiting}) != 1:
            return None
        return answer_waiting(self.questions, waiting[0].agent, answer)

    def _unknown(self, intent: Intent) -> Outcome:
        """Speech that is no command."""
        return Outcome("none", "Sorry, that was not a command I know.")
