"""The request and response bodies of the API, as they appear in /openapi.json."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from voicedesk.types import Job, JobEvent


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
    """An experiment request."""

    id: int
    description: str
    status: str
    proposed_by: str
    created_at: float


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
