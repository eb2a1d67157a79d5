"""The request and response bodies of the API, as they appear in /openapi.json."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from voicedesk.types import Experiment, Job, JobEvent


class JobOut(BaseModel):
    """A job as the API shows it (the full log only on the job's own page)."""

    id: int
    agent: str
    task: str
    status: str
    created_at: float
    updated_at: float
    result: str | None = None
    error: str | None = None
    session_id: str | None = None
    worktree: str | None = None
    cost_usd: float | None = None
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None

    @classmethod
    def of(cls, job: Job) -> JobOut:
        """The API view of a stored job."""
        return cls.model_validate({k: v for k, v in job.__dict__.items() if k in cls.model_fields})


class EventOut(BaseModel):
    """One job event."""

    id: int
    job_id: int
    at: float
    kind: str
    message: str

    @classmethod
    def of(cls, event: JobEvent) -> EventOut:
        """The API view of a stored event."""
        return cls.model_validate(event.__dict__)


class JobDetail(JobOut):
    """A job with its events and full log."""

    log: str | None = None
    events: list[EventOut] = Field(default_factory=list)


class NewJob(BaseModel):
    """A job to queue for a configured agent."""

    model_config = ConfigDict(extra="forbid")

    agent: str = Field(min_length=1, max_length=100)
    task: str = Field(min_length=1, max_length=4000)


class Command(BaseModel):
    """A typed command, as `voicedesk say` takes it."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=2000)


class IntentOut(BaseModel):
    """The four fields of the command language's JSON contract."""

    type: str
    agent: str | None = None
    job: int | None = None
    task: str | None = None


class CommandOut(BaseModel):
    """What a command was understood as, and what was done."""

    transcript: str
    intent: IntentOut
    confidence: float
    source: str
    action: str | None = None
    reply: str | None = None
    kind: str | None = None
    job_ids: list[int] = Field(default_factory=list)
    notices: list[str] = Field(default_factory=list)


class UtteranceOut(BaseModel):
    """One row of the audit log."""

    id: int
    at: float
    source: str
    start: float | None = None
    end: float | None = None
    transcript: str
    intent: dict[str, Any]
    action: str
    reply: str
    timings: dict[str, Any]


class ExperimentOut(BaseModel):
    """An experiment as the ledger holds it (the patch and log only on its own page)."""

    id: int
    description: str
    status: str
    proposed_by: str
    created_at: float
    hypothesis: str | None = None
    repo: str | None = None
    baseline: str | None = None
    base_commit: str | None = None
    branch: str | None = None
    command: str | None = None
    budget_s: float | None = None
    hard_limit_s: float | None = None
    metric_name: str | None = None
    metric_value: float | None = None
    peak_vram_mb: float | None = None
    commit_sha: str | None = None
    reason: str | None = None
    attempts: int = 0
    worker: str | None = None
    gpu: str | None = None
    shared_gpu: bool | None = None
    backend: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float | None = None

    @classmethod
    def of(cls, experiment: Experiment) -> ExperimentOut:
        """The API view of a ledger row."""
        fields = experiment.__dict__.items()
        return cls.model_validate({k: v for k, v in fields if k in cls.model_fields})


class ExperimentDetail(ExperimentOut):
    """One experiment with its patch and the end of its log."""

    patch: str | None = None
    log_tail: str | None = None


MAX_SECONDS = 7 * 86400.0
"""The longest budget or hard limit the API takes (a week)."""


class NewExperiment(BaseModel):
    """An experiment to queue: one change, run under a time budget, judged by one metric."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1, max_length=2000)
    command: str | None = Field(None, min_length=1, max_length=4000)
    repo: str | None = Field(None, min_length=1, max_length=4000)
    base_commit: str | None = Field(None, min_length=1, max_length=200)
    branch: str | None = Field(None, min_length=1, max_length=200)
    patch: str | None = Field(None, max_length=512 * 1024, description="A unified diff.")
    hypothesis: str | None = Field(None, max_length=4000)
    budget_s: float | None = Field(None, gt=0.0, le=MAX_SECONDS, allow_inf_nan=False)
    hard_limit_s: float | None = Field(None, gt=0.0, le=MAX_SECONDS, allow_inf_nan=False)
    idempotency_key: str | None = Field(None, min_length=1, max_length=200)


class Health(BaseModel):
    """Liveness and what the service runs."""

    status: str
    version: str
    model: str
    device: str
    agents: list[str]


class Problem(BaseModel):
    """An error: why the request was refused."""

    detail: str
