"""The live state the reading of an utterance may use: the numbers of the jobs open now.

Before each utterance the listener asks the store which jobs are queued or running and,
when that changed, tells the transcriber, whose reader then prefers, among equally good
readings, one that names a job that exists (voicedesk/intents/choice.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from voicedesk.config import Settings
from voicedesk.store import Store
from voicedesk.types import ACTIVE_JOB_STATUSES


@runtime_checkable
class KnowsJobs(Protocol):
    """A transcriber that can be told which job numbers exist."""

    def use_open_jobs(self, jobs: Sequence[int]) -> None:
        """Prefer readings that name one of `jobs`."""
        ...


class LiveContext:
    """Keeps a transcriber's idea of the open jobs in step with the store."""

    def __init__(self, settings: Settings, store: Store | None) -> None:
        """Watch `store` (None, or `[stt] live_context = false`: nothing is told)."""
        self.store = store if settings.stt.live_context else None
        self._told: tuple[int, ...] | None = None

    def open_jobs(self) -> tuple[int, ...]:
        """The open jobs' numbers, newest first (none without a store)."""
        if self.store is None:
            return ()
        return tuple(job.id for job in self.store.jobs(statuses=ACTIVE_JOB_STATUSES))

    def refresh(self, transcriber: object) -> None:
        """Tell `transcriber` the open jobs when they changed since the last utterance."""
        if self.store is None or not isinstance(transcriber, KnowsJobs):
            return
        jobs = self.open_jobs()
        if jobs != self._told:
            self._told = jobs
            transcriber.use_open_jobs(jobs)
