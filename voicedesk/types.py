"""Shared frozen value types that flow between the pipeline stages; imports no voicedesk module."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

SAMPLE_RATE = 16_000
"""The sample rate every stage after the audio source works at (Hz)."""

SAMPLE_WIDTH = 2
"""Bytes per sample: signed 16-bit little-endian PCM, mono."""

IntentType = Literal[
    "dispatch", "status", "cancel", "experiment", "results", "standup", "details", "confirm",
    "deny", "unknown",
]
INTENT_TYPES: tuple[str, ...] = (
    "dispatch", "status", "cancel", "experiment", "results", "standup", "details", "confirm",
    "deny", "unknown",
)
"""Every intent type of the command language, in COMMANDS.md order."""

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
ACTIVE_JOB_STATUSES: tuple[str, ...] = ("queued", "running")
"""Job statuses that a cancel can still stop."""


@dataclass(frozen=True)
class AudioFrame:
    """A fixed-length slice of 16 kHz mono s16le PCM and its start time in the stream."""

    pcm: bytes
    start: float

    @property
    def duration(self) -> float:
        """Length of the frame in seconds."""
        return len(self.pcm) / (SAMPLE_WIDTH * SAMPLE_RATE)


@dataclass(frozen=True)
class Utterance:
    """One stretch of speech cut from a stream, with the times the segmenter saw."""

    pcm: bytes
    start: float
    end: float
    speech_end: float
    closed_by: Literal["silence", "max_length", "end_of_stream", "push_to_talk"] = "silence"

    @property
    def duration(self) -> float:
        """Length of the audio in seconds."""
        return len(self.pcm) / (SAMPLE_WIDTH * SAMPLE_RATE)


@dataclass(frozen=True)
class Hypothesis:
    """One decoding of an utterance: its text and its length-normalised log-probability."""

    text: str
    score: float


@dataclass(frozen=True)
class Transcript:
    """What the speech-to-text stage heard in one utterance; `text` is the reading chosen.

    `alternatives` holds the decoder's n-best hypotheses, best score first (empty when the
    transcriber gives only one), so a later stage can choose the one that makes sense.
    """

    text: str
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    dropped: tuple[str, ...] = ()
    seconds: float = 0.0
    alternatives: tuple[Hypothesis, ...] = ()


@dataclass(frozen=True)
class Intent:
    """A parsed command: the four contract fields plus how sure the parser is and who parsed it."""

    type: IntentType
    agent: str | None = None
    job: int | None = None
    task: str | None = None
    confidence: float = 1.0
    source: Literal["grammar", "llm"] = "grammar"

    def contract(self) -> dict[str, Any]:
        """The four keys of the JSON contract in COMMANDS.md."""
        return {"type": self.type, "agent": self.agent, "job": self.job, "task": self.task}

    def to_dict(self) -> dict[str, Any]:
        """All fields as plain JSON-ready values."""
        return asdict(self)


@dataclass(frozen=True)
class Job:
    """A unit of work for a named agent, as stored."""

    id: int
    agent: str
    task: str
    status: JobStatus
    created_at: float
    updated_at: float
    result: str | None = None
    error: str | None = None
    log: str | None = None
    session_id: str | None = None
    worktree: str | None = None
    cost_usd: float | None = None
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    lease_owner: str | None = None
    lease_expires: float | None = None


@dataclass(frozen=True)
class JobEvent:
    """One thing that happened to a job: a status change, a note, progress."""

    id: int
    job_id: int
    at: float
    kind: str
    message: str


ExperimentStatus = Literal[
    "queued", "running", "keep", "discard", "crash", "cancelled", "needs_change"
]
ACTIVE_EXPERIMENT_STATUSES: tuple[str, ...] = ("queued", "running", "needs_change")
"""Experiment statuses a cancel can still stop."""


@dataclass(frozen=True)
class Experiment:
    """One row of the experiment ledger: what to try, how it ran, and how it compared."""

    id: int
    description: str
    status: str
    proposed_by: str
    created_at: float
    hypothesis: str | None = None
    repo: str | None = None
    baseline: str | None = None
    base_commit: str | None = None
    patch: str | None = None
    branch: str | None = None
    command: str | None = None
    budget_s: float | None = None
    hard_limit_s: float | None = None
    metric_name: str | None = None
    metric_value: float | None = None
    peak_vram_mb: float | None = None
    commit_sha: str | None = None
    log_path: str | None = None
    reason: str | None = None
    attempts: int = 0
    worker: str | None = None
    gpu: str | None = None
    shared_gpu: int | None = None
    backend: str | None = None
    lease_owner: str | None = None
    lease_expires: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float | None = None
    idempotency_key: str | None = None


ReplyKind = Literal["answer", "question", "done", "refused", "notice"]
"""What a reply is: an answer, a question back (confirm?), a report of an action, a refusal,
or a notice the console raised on its own (a confirmation that timed out)."""


@dataclass(frozen=True)
class Reply:
    """One short line for the user, printed now and spoken by the speech-out stage; `parts`,
    when given, are spoken one by one (a digest's items, each interruptible)."""

    text: str
    kind: ReplyKind = "answer"
    parts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What the console did about one intent: a short reply line and the records it touched."""

    action: str
    reply: str
    job_ids: tuple[int, ...] = ()
    experiment_ids: tuple[int, ...] = ()
    kind: ReplyKind = "answer"
    parts: tuple[str, ...] = ()

    def as_reply(self) -> Reply:
        """The reply line of this outcome."""
        return Reply(self.reply, self.kind, self.parts)


AlertKind = Literal["job_done", "job_failed", "needs_input", "experiment_best"]
ALERT_KINDS: tuple[str, ...] = ("job_done", "job_failed", "needs_input", "experiment_best")
"""Things the console tells the user about without being asked, in digest order's spirit."""


@dataclass(frozen=True)
class Alert:
    """Something that happened that the user should hear about: stored once under its `key`."""

    id: int
    key: str
    at: float
    kind: str
    text: str
    job_id: int | None = None
    experiment_id: int | None = None
    agent: str | None = None
    details: str = ""

    def to_dict(self) -> dict[str, Any]:
        """All fields as plain JSON-ready values (the webhook body's `alert`)."""
        return asdict(self)


QuestionKind = Literal["permission", "question"]


@dataclass(frozen=True)
class Question:
    """An agent blocked on the user: a permission request or a question, and its answer."""

    id: int
    job_id: int
    agent: str
    kind: str
    prompt: str
    asked_at: float
    status: str = "open"
    answer: str | None = None
    answered_at: float | None = None
