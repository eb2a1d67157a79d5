"""Shared pieces for agent and runner tests: settings, a git repo, a runner driven to the end."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Collection
from pathlib import Path
from typing import Any

from voicedesk.agents.runner import Runner
from voicedesk.config import AgentSettings, Settings


def settings_with(tmp_path: Path, agents: dict[str, dict[str, Any]], **runner: Any) -> Settings:
    """Settings with these agents, a store in tmp_path and quick runner timings."""
    return Settings(
        agents={name: AgentSettings(**values) for name, values in agents.items()},
        store={"data_dir": tmp_path / "data"},
        runner={"poll_s": 0.05, **runner},
    )


def make_repo(path: Path) -> Path:
    """A git repo with one commit of README.md."""
    path.mkdir(parents=True)
    git = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (path / "README.md").write_text("hello\n")
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first"], check=True)
    return path


def run_jobs(runner: Runner, job_ids: Collection[int], timeout: float = 30.0) -> None:
    """Run `runner` until the jobs have ended (or fail the test after `timeout`)."""
    asyncio.run(asyncio.wait_for(runner.run(only=job_ids), timeout))
