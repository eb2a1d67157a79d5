"""Jobs, typed commands and the audit log."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from voicedesk.api.deps import Services, authorize, get_services
from voicedesk.api.schemas import (
    Command,
    CommandOut,
    EventOut,
    IntentOut,
    JobDetail,
    JobOut,
    NewJob,
    Problem,
    UtteranceOut,
)
from voicedesk.types import ACTIVE_JOB_STATUSES, Transcript, Utterance

router = APIRouter(dependencies=[Depends(authorize)], responses={401: {"model": Problem},
                                                                 429: {"model": Problem}})
Svc = Annotated[Services, Depends(get_services)]
JobId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The job's number.")]


@router.get("/jobs", response_model=list[JobOut], tags=["jobs"])
async def list_jobs(
    svc: Svc,
    agent: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str | None, Query(pattern="^(queued|running|done|failed|cancelled)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[JobOut]:
    """Jobs, newest first, optionally of one agent or one status."""
    jobs = svc.store.jobs(agent=agent, statuses=(status,) if status else ())
    return [JobOut.of(job) for job in jobs[:limit]]


@router.post("/jobs", response_model=JobOut, status_code=201, tags=["jobs"],
             responses={422: {"model": Problem}})
async def create_job(body: NewJob, svc: Svc) -> JobOut:
    """Queue a job for a configured agent."""
    if body.agent not in svc.settings.agents:
        known = ", ".join(svc.settings.agents)
        raise HTTPException(422, f"there is no agent called {body.agent!r}; agents: {known}")
    return JobOut.of(svc.store.create_job(body.agent, body.task.strip()))


def _job_or_404(svc: Services, job_id: int) -> JobDetail:
    """The job with its events, or 404."""
    job = svc.store.job(job_id)
    if job is None:
        raise HTTPException(404, f"there is no job {job_id}")
    events = [EventOut.of(event) for event in svc.store.events(job_id)]
    return JobDetail(**JobOut.of(job).model_dump(), log=job.log, events=events)


@router.get("/jobs/{job_id}", response_model=JobDetail, tags=["jobs"],
            responses={404: {"model": Problem}})
async def get_job(job_id: JobId, svc: Svc) -> JobDetail:
    """One job with its events and log."""
    return _job_or_404(svc, job_id)


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, tags=["jobs"],
             responses={404: {"model": Problem}, 409: {"model": Problem}})
async def cancel_job(job_id: JobId, svc: Svc) -> JobOut:
    """Cancel a queued or running job (a running agent is stopped by the runner)."""
    job = _job_or_404(svc, job_id)
    if job.status not in ACTIVE_JOB_STATUSES:
        raise HTTPException(409, f"job {job_id} is already {job.status}")
    svc.store.cancel_jobs([job_id], "cancelled through the API")
    return JobOut.of(svc.store.job(job_id))  # type: ignore[arg-type]


@router.post("/commands", response_model=CommandOut, tags=["commands"])
async def command(body: Command, svc: Svc) -> CommandOut:
    """A typed command through the same parser and console as `voicedesk say`."""
    text = body.text.strip()
    if not text:
        raise HTTPException(422, "the command is blank")
    intent = await asyncio.to_thread(svc.typed.parse, text)  # the LLM fallback may call out
    nothing = Utterance(pcm=b"", start=0.0, end=0.0, speech_end=0.0)
    heard = svc.typed.conclude(
        "api", nothing, Transcript(text=text), text, 0.0, {}, time.perf_counter, intent
    )
    outcome = heard.outcome
    if outcome is not None:
        svc.broker.publish("reply", {"text": outcome.reply, "kind": outcome.kind,
                                     "source": "api"})
    return CommandOut(
        transcript=text,
        intent=IntentOut(**heard.intent.contract()),
        confidence=heard.intent.confidence,
        source=heard.intent.source,
        action=outcome.action if outcome else None,
        reply=outcome.reply if outcome else None,
        kind=outcome.kind if outcome else None,
        job_ids=list(outcome.job_ids) if outcome else [],
        notices=[notice.reply for notice in heard.notices],
    )


@router.get("/utterances", response_model=list[UtteranceOut], tags=["audit"])
async def utterances(
    svc: Svc, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[UtteranceOut]:
    """The audit log, newest first: what was heard, understood and done."""
    return [UtteranceOut.model_validate(row) for row in svc.store.utterances(limit)]
