#!/usr/bin/env python3
"""The coding agent's overhead before its first API call: worktree creation + CLI start.

Runs 5 coding jobs (or --runs N) against the fake Anthropic server of the tests, each in a
fresh worktree of a throwaway one-commit repo, and prints, per run and as the median, the time
from `CodingAgent.run` starting to the first POST /v1/messages reaching the fake, with the
worktree and CLI-start parts the agent reports in its notes. Run by hand, not in CI:
  .venv/bin/python scripts/coding_overhead.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fake_anthropic import Answer, FakeAnthropic, text

from voicedesk.agents.coding import CodingAgent
from voicedesk.agents.protocol import JobContext
from voicedesk.config import AgentSettings, LlmSettings
from voicedesk.store import Store


def make_repo(path: Path) -> Path:
    """A git repo with one commit."""
    path.mkdir(parents=True)
    git = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    (path / "README.md").write_text("hello\n")
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first"], check=True)
    return path


def isolate(root: Path, base_url: str) -> None:
    """Point the CLI at the fake with a throwaway HOME and Claude config dir."""
    (root / "home").mkdir()
    os.environ.update({
        "HOME": str(root / "home"), "CLAUDE_CONFIG_DIR": str(root / "home" / ".claude"),
        "ANTHROPIC_API_KEY": "sk-fake", "ANTHROPIC_BASE_URL": base_url,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    })
    for name in ("ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDECODE"):
        os.environ.pop(name, None)


def noted(notes: list[str], pattern: str) -> float:
    """The seconds a note matching `pattern` reports (nan if none does)."""
    for note in notes:
        found = re.search(pattern, note)
        if found:
            return float(found.group(1))
    return float("nan")


async def one_run(store: Store, repo: Path, root: Path, first_call: list[float]) -> list[float]:
    """One job: [first API call, worktree, CLI start] in seconds."""
    job = store.create_job("frontend", "say hi")
    notes: list[str] = []
    context = JobContext(
        job=job, agent="frontend", settings=AgentSettings(kind="coding", repo=repo),
        llm=LlmSettings(), store=store,
        emit=lambda kind, message: notes.append(message) if kind == "note" else None,
        worktrees_dir=root / "wt",
    )
    first_call.clear()
    started = time.monotonic()
    await asyncio.wait_for(CodingAgent().run(context), 60)
    return [first_call[0] - started, noted(notes, r"worktree created in ([\d.]+)s"),
            noted(notes, r"claude code started in ([\d.]+)s")]


def main() -> None:
    """Measure and print the overhead of --runs coding jobs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    first_call: list[float] = []

    def script(body: dict[str, Any]) -> Answer:
        """Note when the conversation's first request arrives; answer with text."""
        if body.get("tools") and not first_call:
            first_call.append(time.monotonic())
        return text("Hi.")

    with tempfile.TemporaryDirectory() as tmp, FakeAnthropic(script) as fake:
        root = Path(tmp)
        isolate(root, fake.base_url)
        repo = make_repo(root / "proj")
        store = Store(root / "v.db")
        rows = [asyncio.run(one_run(store, repo, root, first_call)) for _ in range(runs)]
        store.close()
    for index, (total, worktree, cli) in enumerate(rows, 1):
        print(f"run {index}: first API call after {total:.3f}s "
              f"(worktree {worktree:.2f}s, CLI start {cli:.2f}s)")
    medians = [statistics.median(column) for column in zip(*rows, strict=True)]
    print(f"median of {runs}: worktree creation + CLI start = {medians[0]:.3f}s "
          f"(worktree {medians[1]:.2f}s, CLI start {medians[2]:.2f}s)")


if __name__ == "__main__":
    main()
