"""The experiment ledger over HTTP: list, submit (idempotent), leaderboard, one, cancel."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Response

from voicedesk.api.deps import Services, authorize, get_services
from voicedesk.api.schemas import ExperimentDetail, ExperimentOut, NewExperiment, Problem
from voicedesk.experiments.ledger import Ledger, Submission
from voicedesk.types import ACTIVE_EXPERIMENT_STATUSES, Experiment

router = APIRouter(dependencies=[Depends(authorize)], tags=["experiments"],
                   responses={401: {"model": Problem}, 429: {"model": Problem}})
Svc = Annotated[Services, Depends(get_services)]
ExperimentId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The experiment's number.")]
STATUS_PATTERN = "^(queued|running|keep|discard|crash|cancelled|needs_change)$"
LOG_TAIL_BYTES = 4096
"""How much of the end of a run's log an experiment's page shows."""


def _ledger(svc: Services) -> Ledger:
    """The ledger in the service's store."""
    return Ledger(svc.store, svc.settings.experiments)


@router.get("/experiments", response_model=list[ExperimentOut])
async def list_experiments(
    svc: Svc,
    status: Annotated[str | None, Query(pattern=STATUS_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ExperimentOut]:
    """Experiments, newest first, optionally of one status."""
    found = _ledger(svc).all((status,) if status else (), limit=limit)
    return [ExperimentOut.of(e) for e in found]


@router.post("/experiments", response_model=ExperimentOut, status_code=201,
             responses={200: {"model": ExperimentOut,
                              "description": "A repeated idempotency key: the first experiment."},
                        422: {"model": Problem}})
async def submit_experiment(
    body: NewExperiment,
    response: Response,
    svc: Svc,
    key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                      max_length=200)] = None,
) -> ExperimentOut:
    """Queue an experiment; a repeated idempotency key returns the first one (200)."""
    if key is not None and body.idempotency_key not in (None, key):
        raise HTTPException(422, "the Idempotency-Key header and idempotency_key differ")
    description = " ".join(body.description.split())
    if not description:
        raise HTTPException(422, "the description is blank")
    s = svc.settings.experiments
    budget, hard = body.budget_s or s.budget_s, body.hard_limit_s or s.hard_limit_s
    if hard < budget:
        raise HTTPException(422, f"hard_limit_s ({hard:g}) must be at least budget_s ({budget:g})")
    sub = Submission(
        description=description, proposed_by="api", command=body.command, repo=body.repo,
        base_commit=body.base_commit, patch=body.patch or None, branch=body.branch,
        hypothesis=body.hypothesis, budget_s=budget, hard_limit_s=hard,
        idempotency_key=key or body.idempotency_key,
    )
    experiment, created = _ledger(svc).submit(sub)
    if not created:
        response.status_code = 200
    return ExperimentOut.of(experiment)


@router.get("/experiments/leaderboard", response_model=list[ExperimentOut])
async def leaderboard(
    svc: Svc, limit: Annotated[int, Query(ge=1, le=1000)] = 20
) -> list[ExperimentOut]:
    """Judged results (kept and discarded), best first."""
    return [ExperimentOut.of(e) for e in _ledger(svc).leaderboard(limit)]


def _or_404(svc: Services, experiment_id: int) -> Experiment:
    """The experiment, or 404."""
    found = _ledger(svc).get(experiment_id)
    if found is None:
        raise HTTPException(404, f"there is no experiment {experiment_id}")
    return found


def _log_file(svc: Services, experiment: Experiment) -> FilePath | None:
    """Where the experiment's log is (relative paths are under the logs folder)."""
    if not experiment.log_path:
        return None
    path = FilePath(experiment.log_path).expanduser()
    return path if path.is_absolute() else svc.settings.experiment_logs_dir() / path


def log_tail(path: FilePath, size: int = LOG_TAIL_BYTES) -> str | None:
    """The last `size` bytes of a log from a line start, or None when it cannot be read."""
    try:
        with path.open("rb") as handle:
            end = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, end - size))
            data = handle.read(size)
    except OSError:
        return None
    text = data.decode("utf-8", errors="replace")
    if end > size and "\n" in text:
        text = text.split("\n", 1)[1]  # the first line was cut: drop it
    return text


@router.get("/experiments/{experiment_id}", response_model=ExperimentDetail,
            responses={404: {"model": Problem}})
async def get_experiment(experiment_id: ExperimentId, svc: Svc) -> ExperimentDetail:
    """One experiment with its patch and the end of its log."""
    found = _or_404(svc, experiment_id)
    path = _log_file(svc, found)
    tail = await asyncio.to_thread(log_tail, path) if path is not None else None
    return ExperimentDetail(**ExperimentOut.of(found).model_dump(), patch=found.patch,
                            log_tail=tail)


@router.post("/experiments/{experiment_id}/cancel", response_model=ExperimentOut,
             responses={404: {"model": Problem}, 409: {"model": Problem}})
async def cancel_experiment(experiment_id: ExperimentId, svc: Svc) -> ExperimentOut:
    """Cancel a queued or running experiment (a worker stops a running one)."""
    found = _or_404(svc, experiment_id)
    cancelled = None
    if found.status in ACTIVE_EXPERIMENT_STATUSES:
        cancelled = _ledger(svc).cancel(experiment_id, "cancelled through the API")
    if cancelled is None:
        now = _or_404(svc, experiment_id)
        raise HTTPException(409, f"experiment {experiment_id} is already {now.status}")
    return ExperimentOut.of(cancelled)
