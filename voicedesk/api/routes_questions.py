"""Questions agents wait on, and answering one from the page or a script."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, Field

from voicedesk.agents.questions import Questions
from voicedesk.api.deps import Services, authorize, get_services
from voicedesk.api.schemas import Problem
from voicedesk.types import ACTIVE_JOB_STATUSES, Question

router = APIRouter(dependencies=[Depends(authorize)], responses={401: {"model": Problem},
                                                                 429: {"model": Problem}})
Svc = Annotated[Services, Depends(get_services)]
JobId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The job's number.")]


class QuestionOut(BaseModel):
    """A question an agent asked the user, and its answer once there is one."""

    id: int
    job_id: int
    agent: str
    kind: str
    prompt: str
    asked_at: float
    status: str
    answer: str | None = None
    answered_at: float | None = None

    @classmethod
    def of(cls, question: Question) -> QuestionOut:
        """The API view of a stored question."""
        return cls.model_validate(asdict(question))


class NewAnswer(BaseModel):
    """The user's answer, in words: "yes", "no", or an instruction."""

    text: str = Field(min_length=1, max_length=2000)


@router.get("/questions", response_model=list[QuestionOut], tags=["questions"])
async def open_questions(
    svc: Svc, agent: Annotated[str | None, Query(max_length=100)] = None
) -> list[QuestionOut]:
    """Open questions of queued or running jobs, oldest first (of one agent)."""
    return [QuestionOut.of(q) for q in Questions(svc.store).open(agent)]


@router.post("/jobs/{job_id}/answer", response_model=QuestionOut, tags=["questions"],
             responses={404: {"model": Problem}, 409: {"model": Problem},
                        422: {"model": Problem}})
async def answer_job(job_id: JobId, body: NewAnswer, svc: Svc) -> QuestionOut:
    """Answer the job's oldest open question; 409 when it waits for none."""
    job = svc.store.job(job_id)
    if job is None:
        raise HTTPException(404, f"there is no job {job_id}")
    text = " ".join(body.text.split())
    if not text:
        raise HTTPException(422, "the answer is blank")
    if job.status not in ACTIVE_JOB_STATUSES:
        raise HTTPException(409, f"job {job_id} is already {job.status}")
    questions = Questions(svc.store)
    for question in (q for q in questions.open() if q.job_id == job_id):
        answered = questions.answer(question.id, text)
        if answered is not None:
            return QuestionOut.of(answered)
    raise HTTPException(409, f"job {job_id} is not waiting for an answer")
