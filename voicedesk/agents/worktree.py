"""Git worktrees for coding jobs: one fresh worktree on its own branch per job.

Blocking helpers around the git CLI (argument lists, never a shell string, always a timeout);
call them through `asyncio.to_thread` from async code. Every failure is an `AgentError` with a
one-line reason.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from voicedesk.errors import AgentError

GIT_TIMEOUT_S = 60.0
"""How long one git command may take before the job fails."""

_GIT_ENV_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY")


def job_branch(job_id: int) -> str:
    """The branch a job's worktree is on: voicedesk/job-<id>."""
    return f"voicedesk/job-{job_id}"


def worktree_path(repo: Path, worktrees_dir: Path, job_id: int) -> Path:
    """Where a job's worktree goes: WORKTREES_DIR/<repo-name>-job-<id>."""
    return worktrees_dir / f"{repo.name}-job-{job_id}"


def _git_env() -> dict[str, str]:
    """The environment git runs in: never prompts, ignores a caller's GIT_DIR and friends."""
    env = {name: value for name, value in os.environ.items() if name not in _GIT_ENV_DROP}
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


def git(repo: Path, *args: str, timeout: float = GIT_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """Run `git -C repo ARGS...`; the result is returned whatever the exit code."""
    command = ["git", "-C", str(repo), *args]
    try:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=_git_env(),
            stdin=subprocess.DEVNULL, check=False,
        )
    except FileNotFoundError:
        raise AgentError("git is not installed (no `git` on PATH)") from None
    except subprocess.TimeoutExpired:
        raise AgentError(f"git {args[0]} in {repo} took longer than {timeout:g}s") from None


def _last_line(process: subprocess.CompletedProcess[str]) -> str:
    """The last non-blank line git printed, for an error message."""
    lines = [line.strip() for line in (process.stderr or process.stdout).splitlines()]
    kept = [line for line in lines if line]
    return kept[-1] if kept else f"exit code {process.returncode}"


def check_repo(repo: Path) -> None:
    """Raise AgentError unless `repo` is a git checkout with at least one commit."""
    if not repo.exists():
        raise AgentError(f"repo {repo} does not exist")
    if not repo.is_dir():
        raise AgentError(f"repo {repo} is not a directory")
    if git(repo, "rev-parse", "--git-dir").returncode != 0:
        raise AgentError(f"repo {repo} is not a git repository")
    if git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}").returncode != 0:
        raise AgentError(f"repo {repo} has no commits yet: commit something first")


def create_worktree(repo: Path, worktrees_dir: Path, job_id: int) -> Path:
    """Create WORKTREES_DIR/<repo-name>-job-<id> on a new branch voicedesk/job-<id> from HEAD."""
    repo = repo.expanduser().resolve()
    check_repo(repo)
    branch = job_branch(job_id)
    if git(repo, "show-ref", "--verify", "--quiet", f"refs/heads/{branch}").returncode == 0:
        raise AgentError(f"branch {branch} already exists in {repo}")
    path = worktree_path(repo, worktrees_dir.expanduser().resolve(), job_id)
    if path.exists():
        raise AgentError(f"worktree folder {path} already exists")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AgentError(f"cannot create worktrees folder {path.parent}: {exc.strerror}") from None
    added = git(repo, "worktree", "add", "--quiet", "-b", branch, str(path), "HEAD")
    if added.returncode != 0:
        raise AgentError(f"git worktree add failed in {repo}: {_last_line(added)}")
    return path


def remove_worktree(repo: Path, worktree: Path, delete_branch: bool = False) -> None:
    """Remove a job's worktree (even with changes in it) and optionally its branch."""
    repo = repo.expanduser().resolve()
    branch = git(worktree, "symbolic-ref", "--quiet", "--short", "HEAD").stdout.strip()
    removed = git(repo, "worktree", "remove", "--force", str(worktree))
    if removed.returncode != 0:
        raise AgentError(f"git worktree remove failed in {repo}: {_last_line(removed)}")
    if delete_branch and branch:
        deleted = git(repo, "branch", "-D", branch)
        if deleted.returncode != 0:
            raise AgentError(f"cannot delete branch {branch} in {repo}: {_last_line(deleted)}")
