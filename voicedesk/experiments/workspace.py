"""Git workspaces for experiment runs: a detached worktree at the start point, the patch
committed on top, and moving the baseline branch forward to a kept commit.

Blocking helpers around the git CLI (through `voicedesk.agents.worktree.git`); call them with
`asyncio.to_thread` from async code. Every failure is an `ExperimentError` with a one-line reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from voicedesk.agents.worktree import git
from voicedesk.errors import AgentError, VoicedeskError
from voicedesk.experiments.ledger import Ledger, RunResult
from voicedesk.types import Experiment

log = logging.getLogger(__name__)

_IDENTITY = (
    "-c", "user.name=voicedesk", "-c", "user.email=voicedesk@localhost",
    "-c", "commit.gpgsign=false",
)


class ExperimentError(VoicedeskError):
    """An experiment that cannot be prepared or recorded in its repo (the run fails with this)."""


@dataclass(frozen=True)
class Workspace:
    """A detached git worktree ready to run in, at the commit being tested."""

    path: Path
    commit_sha: str


def workspace_path(experiment: Experiment, root: Path) -> Path:
    """Where an attempt's worktree goes: ROOT/exp-<id>-a<attempts>."""
    return root / f"exp-{experiment.id}-a{experiment.attempts}"


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run git, turning a missing git or a timeout into ExperimentError."""
    try:
        return git(repo, *args)
    except AgentError as exc:
        raise ExperimentError(str(exc)) from None


def _reason(process: subprocess.CompletedProcess[str]) -> str:
    """What git said, on one line (the first error lines, joined)."""
    lines = [line.strip() for line in (process.stderr or process.stdout).splitlines()]
    kept = [line for line in lines if line][:3]
    return "; ".join(kept) if kept else f"exit code {process.returncode}"


def _repo(experiment: Experiment) -> Path:
    """The experiment's repository, checked to be a git checkout."""
    if not experiment.repo:
        raise ExperimentError(
            f"experiment {experiment.id} has no repo: set [experiments] repo or submit with --repo"
        )
    repo = Path(experiment.repo).expanduser()
    if not repo.is_dir():
        raise ExperimentError(f"experiment {experiment.id}: repo {repo} is not a directory")
    if _git(repo, "rev-parse", "--git-dir").returncode != 0:
        raise ExperimentError(f"experiment {experiment.id}: repo {repo} is not a git repository")
    return repo.resolve()


def _resolve(repo: Path, name: str) -> str:
    """The commit a branch, tag or commit id names, or ExperimentError."""
    found = _git(repo, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
    if found.returncode != 0:
        raise ExperimentError(f"no branch or commit {name!r} in {repo}")
    return found.stdout.strip()


def start_point(experiment: Experiment, repo: Path) -> str:
    """The commit a run starts from: its branch, else its base commit, else the baseline's tip."""
    name = experiment.branch or experiment.base_commit or experiment.baseline or "main"
    return _resolve(repo, name)


def prepare_workspace(experiment: Experiment, root: Path) -> Workspace:
    """A detached worktree at the experiment's start point with its patch committed on top."""
    repo = _repo(experiment)
    start = start_point(experiment, repo)
    path = workspace_path(experiment, root.expanduser().resolve())
    if path.exists():
        _drop(repo, path)  # a stale one from a worker that died
    path.parent.mkdir(parents=True, exist_ok=True)
    added = _git(repo, "worktree", "add", "--quiet", "--detach", str(path), start)
    if added.returncode != 0:
        raise ExperimentError(f"git worktree add failed in {repo}: {_reason(added)}")
    try:
        if experiment.patch:
            _commit_patch(experiment, path)
        head = _git(path, "rev-parse", "HEAD").stdout.strip()
        _git(repo, "update-ref", f"refs/voicedesk/exp-{experiment.id}", head)
    except BaseException:
        _drop(repo, path)
        raise
    return Workspace(path=path, commit_sha=head)


def _commit_patch(experiment: Experiment, path: Path) -> None:
    """Apply the experiment's patch to the index and commit it."""
    patch = experiment.patch or ""
    with tempfile.NamedTemporaryFile("w", suffix=".patch", delete=False) as file:
        file.write(patch if patch.endswith("\n") else patch + "\n")
    try:
        applied = _git(path, "apply", "--index", "--whitespace=nowarn", file.name)
    finally:
        Path(file.name).unlink(missing_ok=True)
    if applied.returncode != 0:
        raise ExperimentError(
            f"the patch of experiment {experiment.id} does not apply: {_reason(applied)}"
        )
    message = f"voicedesk experiment {experiment.id}: {experiment.description}"
    committed = _git(path, *_IDENTITY, "commit", "--quiet", "--no-verify", "-m", message)
    if committed.returncode != 0:
        raise ExperimentError(f"cannot commit experiment {experiment.id}: {_reason(committed)}")


def _drop(repo: Path | None, path: Path) -> None:
    """Remove a worktree folder and git's record of it, whatever state it is in."""
    if repo is not None:
        with contextlib.suppress(ExperimentError):
            _git(repo, "worktree", "remove", "--force", "--force", str(path))
    shutil.rmtree(path, ignore_errors=True)
    if repo is not None:
        with contextlib.suppress(ExperimentError):
            _git(repo, "worktree", "prune")


def remove_workspace(experiment: Experiment, workspace: Workspace) -> None:
    """Remove a run's worktree (the commit stays, under refs/voicedesk/exp-<id>); never raises."""
    repo = Path(experiment.repo).expanduser() if experiment.repo else None
    _drop(repo, workspace.path)


def _checked_out_in(repo: Path, branch: str) -> Path | None:
    """The worktree that has `branch` checked out, if any."""
    listing = _git(repo, "worktree", "list", "--porcelain").stdout
    current: Path | None = None
    for line in listing.splitlines():
        if line.startswith("worktree "):
            current = Path(line.removeprefix("worktree "))
        elif line == f"branch refs/heads/{branch}":
            return current
    return None


def advance_baseline(repo: Path, baseline: str, commit_sha: str) -> None:
    """Move the baseline branch to a kept commit; refuse unless it is a fast-forward."""
    repo = repo.expanduser()
    sha = _resolve(repo, commit_sha)
    ref = f"refs/heads/{baseline}"
    old = _git(repo, "rev-parse", "--verify", "--quiet", ref).stdout.strip()
    if old == sha:
        return
    if old and _git(repo, "merge-base", "--is-ancestor", old, sha).returncode != 0:
        raise ExperimentError(
            f"cannot move {baseline} to {sha[:12]}: not a fast-forward of {old[:12]}"
        )
    checkout = _checked_out_in(repo, baseline) if old else None
    if checkout is not None:  # keep that checkout's files in step with its branch
        moved = _git(checkout, "merge", "--ff-only", "--quiet", sha)
    else:
        moved = _git(repo, "update-ref", "-m", "voicedesk: advance baseline", ref, sha, old)
    if moved.returncode != 0:
        raise ExperimentError(f"cannot move {baseline} to {sha[:12]}: {_reason(moved)}")


async def record_run(ledger: Ledger, owner: str, experiment: Experiment, result: RunResult) -> None:
    """Finish an attempt in the ledger; on a keep, move the baseline if configured to."""
    done = ledger.finish(experiment.id, owner, result)
    log.info("experiment %d attempt %d: %s (%s)", experiment.id, experiment.attempts,
             done.status if done else "gone", done.reason if done else "")
    settings = ledger.settings
    if (
        done is None or done.status != "keep" or not settings.advance_on_keep
        or not result.commit_sha or done.commit_sha != result.commit_sha or not done.repo
    ):
        return
    baseline = done.baseline or settings.baseline_branch
    try:
        await asyncio.to_thread(advance_baseline, Path(done.repo), baseline, result.commit_sha)
    except ExperimentError as exc:
        log.warning("experiment %d kept but the baseline stays: %s", experiment.id, exc)
