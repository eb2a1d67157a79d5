"""The shell agent: runs the allow-listed command whose phrase best matches the task.

Only commands from the agent's `commands` table ever run, in its `repo`, as their own process
group so that a cancel or a timeout stops the whole tree. No API key is needed.
"""

from __future__ import annotations

import asyncio
import difflib
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from voicedesk.agents.processes import kill_group
from voicedesk.agents.protocol import JobContext, JobResult
from voicedesk.errors import AgentError

MATCH_THRESHOLD = 0.8
"""How close (0..1) a task must be to a phrase for its command to run."""

_FILLERS = frozenset({"the", "a", "an", "please", "now", "for", "me", "us", "can", "you", "go",
                      "ahead", "and", "just", "our", "my", "all"})
_LOG_LIMIT = 200_000
_EMIT_EVERY_S = 1.0
KILL_GRACE_S = 2.0
"""How long a stopped command's process group has between SIGTERM and SIGKILL."""


def normalise(phrase: str) -> str:
    """Lower-case words without punctuation or filler words: 'Run the tests.' -> 'run tests'."""
    words = re.findall(r"[a-z0-9][a-z0-9'._/-]*", phrase.lower())
    kept = [word.strip("'.") for word in words if word not in _FILLERS]
    return " ".join(word for word in kept if word)


@dataclass(frozen=True)
class CommandMatch:
    """The allow-listed phrase a task matched, its command and how close the match was."""

    phrase: str
    command: str
    score: float


def match_command(task: str, commands: Mapping[str, str]) -> CommandMatch | None:
    """The allowed command whose phrase is closest to `task`, if close enough."""
    wanted = normalise(task)
    best: CommandMatch | None = None
    for phrase, command in commands.items():
        score = difflib.SequenceMatcher(None, wanted, normalise(phrase)).ratio()
        if best is None or score > best.score:
            best = CommandMatch(phrase, command, score)
    return best if best is not None and best.score >= MATCH_THRESHOLD else None


def summarise(match: CommandMatch, code: int, seconds: float, output: str) -> str:
    """One spoken sentence: what ran, how it ended, and the last line it printed."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    last = f": {lines[-1][:160]}" if lines else ""
    verdict = "succeeded" if code == 0 else f"failed with exit code {code}"
    return f"{match.phrase[:1].upper()}{match.phrase[1:]} {verdict} in {seconds:.1f} s{last}"


class ShellAgent:
    """Runs allow-listed shell commands for spoken tasks."""

    async def run(self, context: JobContext) -> JobResult:
        """Match the task, run the command in the repo, report exit status and last lines."""
        settings, name = context.settings, context.agent
        if not settings.commands:
            raise AgentError(f"{name} has no allowed commands: add [agents.{name}.commands]")
        match = match_command(context.job.task, settings.commands)
        if match is None:
            allowed = ", ".join(f'"{phrase}"' for phrase in settings.commands)
            raise AgentError(
                f'{name} has no allowed command for "{context.job.task}"; it can: {allowed}'
            )
        if settings.repo is None:
            raise AgentError(f"{name} has no repo to run in: set [agents.{name}] repo")
        repo = settings.repo.expanduser()
        if not repo.is_dir():
            raise AgentError(f"{name}'s repo {repo} is not a directory")
        context.emit("tool", f"$ {match.command}  (matched \"{match.phrase}\", {match.score:.2f})")
        began = time.monotonic()
        code, output = await _run_command(match.command, repo, context)
        summary = summarise(match, code, time.monotonic() - began, output)
        log = f"$ {match.command}\n{output}\n[exit code {code}]"
        if code != 0:
            raise AgentError(summary, log=log)
        return JobResult(summary=summary, log=log)


async def _run_command(command: str, cwd: os.PathLike[str], context: JobContext) -> tuple[int, str]:
    """Run `command` in its own process group, streaming output to events; (exit code, output)."""
    process = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", command,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    output: list[str] = []
    try:
        await _collect(process, output, context)
        return await process.wait(), "".join(output)[-_LOG_LIMIT:]
    except asyncio.CancelledError:
        await kill_group(process, KILL_GRACE_S)
        raise


async def _collect(
    process: asyncio.subprocess.Process, output: list[str], context: JobContext
) -> None:
    """Read the output to its end, emitting what arrived about once a second."""
    assert process.stdout is not None
    pending: list[str] = []
    last_emit = time.monotonic()
    while line := await process.stdout.readline():
        text = line.decode(errors="replace")
        output.append(text)
        pending.append(text)
        if time.monotonic() - last_emit >= _EMIT_EVERY_S:
            context.emit("output", "".join(pending).rstrip()[-2000:])
            pending, last_emit = [], time.monotonic()
    if pending:
        context.emit("output", "".join(pending).rstrip()[-2000:])
