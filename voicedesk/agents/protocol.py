"""The Agent seam: an agent runs one job, reports progress events, and stops when cancelled.

Cancelling is cancelling the `run` coroutine (a voice cancel, the job timeout, shutdown):
an agent stops its work when `asyncio.CancelledError` reaches it (killing its process group,
interrupting its SDK session), then lets the error propagate. A job an agent cannot do ends
by raising `AgentError` with a one-line reason; a finished job returns a `JobResult`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from voicedesk.config import AgentSettings, ExperimentSettings, LlmSettings
from voicedesk.store import Store
from voicedesk.types import Job

EventSink = Callable[[str, str], None]
"""Where an agent reports progress: (kind, message). Kinds: text, tool, cost, output, denied,
session, note."""


@dataclass(frozen=True)
class FollowUp:
    """The session of the same agent's previous job, to continue rather than start afresh."""

    job_id: int
    session_id: str
    worktree: Path


@dataclass(frozen=True)
class JobContext:
    """Everything an agent gets for one job."""

    job: Job
    agent: str
    settings: AgentSettings
    llm: LlmSettings
    store: Store
    emit: EventSink
    worktrees_dir: Path
    follow_up: FollowUp | None = None
    experiments: ExperimentSettings = field(default_factory=ExperimentSettings)


@dataclass(frozen=True)
class JobResult:
    """A finished job: a one-sentence summary fit to be spoken, and the full log."""

    summary: str
    log: str = ""
    session_id: str | None = None
    worktree: Path | None = None
    cost_usd: float | None = None


class Agent(Protocol):
    """Runs jobs of one kind (coding, research, shell)."""

    async def run(self, context: JobContext) -> JobResult:
        """Do the job; raise AgentError with the reason if it cannot be done."""
        ...
