"""The Ray-facing pieces of the Ray backend: job ids, the client, cluster GPUs, job states.

Everything untyped about Ray stays here, behind `Any`; Ray is imported only when called.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import re
from dataclasses import dataclass, field
from typing import Any

from voicedesk.experiments.workspace import ExperimentError
from voicedesk.types import Experiment


def submission_id(experiment: Experiment) -> str:
    """The Ray submission id of an experiment's current attempt."""
    return f"voicedesk-exp-{experiment.id}-a{experiment.attempts}"


def one_line(error: BaseException, limit: int = 240) -> str:
    """An error (often carrying a whole server traceback) as its most telling line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    raised = [line for line in lines if re.match(r"^[\w.]*(Error|Exception): ", line)]
    line = raised[-1] if raised else ": ".join([type(error).__name__, *lines[:1]])
    return line if len(line) <= limit else line[: limit - 3] + "..."


def connect(address: str | None) -> Any:
    """A Ray JobSubmissionClient for the dashboard at `address` (checks that it answers)."""
    if not address:
        raise ExperimentError("[experiments] ray_address is not set (e.g. http://HEAD:8265)")
    try:
        sdk = importlib.import_module("ray.job_submission")
    except ImportError:
        raise ExperimentError("Ray is not installed: pip install 'voicedesk[ray]'") from None
    return sdk.JobSubmissionClient(address)


def cluster_gpus(address: str) -> float:
    """How many GPUs the live nodes of the cluster behind a dashboard address have."""
    state = importlib.import_module("ray.util.state")
    nodes = state.list_nodes(address=address, filters=[("state", "=", "ALIVE")], timeout=30)
    if not nodes:
        raise ExperimentError(f"the Ray cluster at {address} has no live node yet")
    return float(sum(float((node.resources_total or {}).get("GPU", 0)) for node in nodes))


@dataclass(frozen=True)
class JobState:
    """What Ray says about one job."""

    status: str
    message: str = ""
    exit_code: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def job_state(info: Any) -> JobState:
    """A Ray JobDetails as a JobState."""
    status = getattr(info.status, "value", info.status)
    code = getattr(info, "driver_exit_code", None)
    metadata = {str(k): str(v) for k, v in (getattr(info, "metadata", None) or {}).items()}
    return JobState(str(status), str(info.message or ""), None if code is None else int(code),
                    metadata)


def job_identity(experiment: Experiment) -> dict[str, str]:
    """Ray job metadata that tells this ledger's attempt from another ledger's same-named one."""
    return {"voicedesk_experiment": str(experiment.id),
            "voicedesk_created_at": repr(experiment.created_at)}


def is_mine(state: JobState, experiment: Experiment) -> bool:
    """Whether a Ray job was submitted for this experiment of this ledger."""
    return job_identity(experiment).items() <= state.metadata.items()


def submission_ids(experiment: Experiment) -> tuple[str, str]:
    """The attempt's Ray submission id, and the one used when another ledger (a store that was
    reset, say) already has a job under the first."""
    tag = hashlib.sha256(repr(experiment.created_at).encode()).hexdigest()[:8]
    return submission_id(experiment), f"{submission_id(experiment)}-{tag}"


def stop_quietly(client: Any, sid: str) -> None:
    """Ask Ray to stop a job, ignoring every error."""
    with contextlib.suppress(Exception):
        client.stop_job(sid)
